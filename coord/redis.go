package coord

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the Leaser and Progress shared by every process of a
// deployment. Leases are SET NX PX keys whose value names the owner, with a
// fencing counter beside them; progress sets are bitmaps indexed by log
// position. Keys start with Prefix.
type Redis struct {
	c      redis.UniversalClient
	prefix string
}

// NewRedis returns a coordinator on c with keys under prefix.
func NewRedis(c redis.UniversalClient, prefix string) *Redis {
	return &Redis{c: c, prefix: prefix}
}

var (
	renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)
	// watermarkScript returns the first clear bit at or after ARGV[1].
	// Bits past the end of the string are clear.
	watermarkScript = redis.NewScript(`
local start = tonumber(ARGV[1])
local len = redis.call('STRLEN', KEYS[1]) * 8
if start >= len then return start end
local r = redis.call('BITPOS', KEYS[1], 0, start, len - 1, 'BIT')
if r == -1 then return len end
return r`)
)

func (r *Redis) leaseKey(name string) string { return r.prefix + "lease:" + name }

// TryAcquire implements Leaser.
func (r *Redis) TryAcquire(ctx context.Context, name, owner string, ttl time.Duration) (int64, bool, error) {
	ok, err := r.c.SetNX(ctx, r.leaseKey(name), owner, ttl).Result()
	if err != nil || !ok {
		return 0, false, err
	}
	fence, err := r.c.Incr(ctx, r.leaseKey(name)+":fence").Result()
	if err != nil {
		_ = r.Release(ctx, name, owner)
		return 0, false, err
	}
	return fence, true, nil
}

// Renew implements Leaser.
func (r *Redis) Renew(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	n, err := renewScript.Run(ctx, r.c, []string{r.leaseKey(name)}, owner, ttl.Milliseconds()).Int()
	return n == 1, err
}

// Release implements Leaser.
func (r *Redis) Release(ctx context.Context, name, owner string) error {
	return releaseScript.Run(ctx, r.c, []string{r.leaseKey(name)}, owner).Err()
}

// Holder implements LeaseHolder.
func (r *Redis) Holder(ctx context.Context, name string) (string, time.Duration, error) {
	owner, err := r.c.Get(ctx, r.leaseKey(name)).Result()
	if errors.Is(err, redis.Nil) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, err
	}
	ttl, err := r.c.PTTL(ctx, r.leaseKey(name)).Result()
	return owner, ttl, err
}

func (r *Redis) setKey(group string) string {
	if group == "" {
		return r.prefix + "published"
	}
	return r.prefix + "consumed:" + group
}

// MarkPublished implements Progress.
func (r *Redis) MarkPublished(ctx context.Context, positions ...int64) error {
	return r.MarkConsumed(ctx, "", positions...)
}

// MarkConsumed implements Progress.
func (r *Redis) MarkConsumed(ctx context.Context, group string, positions ...int64) error {
	if len(positions) == 0 {
		return nil
	}
	key := r.setKey(group)
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, pos := range positions {
			p.SetBit(ctx, key, pos, 1)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("coord: mark %s: %w", key, err)
	}
	return nil
}

// Consumed implements Progress.
func (r *Redis) Consumed(ctx context.Context, group string, from int64) (int64, error) {
	first, err := watermarkScript.Run(ctx, r.c, []string{r.setKey(group)}, from+1).Int64()
	if err != nil {
		return 0, fmt.Errorf("coord: watermark of %s: %w", group, err)
	}
	return max(from, first-1), nil
}

// Missing implements Progress.
func (r *Redis) Missing(ctx context.Context, group string, from, to int64) ([]int64, error) {
	if to <= from {
		return nil, nil
	}
	lo, hi := (from+1)/8, to/8
	s, err := r.c.GetRange(ctx, r.setKey(group), lo, hi).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("coord: read %s: %w", r.setKey(group), err)
	}
	var out []int64
	for p := from + 1; p <= to; p++ {
		i := p/8 - lo
		if i >= int64(len(s)) || s[i]&(0x80>>uint(p%8)) == 0 {
			out = append(out, p)
		}
	}
	return out, nil
}
