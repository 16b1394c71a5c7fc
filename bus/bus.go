// Package bus carries committed events from the event store to consumers
// through Watermill: Redis Streams when a deployment has Redis, an
// in-process GoChannel in the embedded mode. Each message is one commit,
// with its position, stream id and version in the metadata.
package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/redis/go-redis/v9"

	"github.com/seatline/seatline/eventstore"
)

// Metadata keys of a commit message.
const (
	MetaPosition    = "position"
	MetaStream      = "stream_id"
	MetaVersion     = "version"
	MetaCorrelation = "correlation_id"
)

// Bus publishes commits and opens subscriptions for consumer groups.
type Bus struct {
	topic string
	parts int // topics commits are spread over, by stream (1: just topic)
	pub   message.Publisher
	// newSub returns a group subscriber and its consumer name in Redis
	// ("" in process).
	newSub func(group string) (message.Subscriber, string, error)
	// fanOut subscribes to every message from now on, outside any group.
	fanOut func() (message.Subscriber, error)
	logger watermill.LoggerAdapter
	redis  redis.UniversalClient
	prefix string
	// claimIdle is how long a pending message waits before another
	// consumer may claim it.
	claimIdle time.Duration
}

// NewMemory returns the in-process bus. Publish waits until every current
// subscriber has acknowledged a message, which keeps per-stream order;
// commits published while a group is not subscribed are delivered again
// by the relay's catch-up.
func NewMemory(logger *slog.Logger) *Bus {
	wl := watermill.NewSlogLogger(logger)
	ch := gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, wl)
	return &Bus{
		topic:  "events",
		parts:  1,
		pub:    ch,
		newSub: func(string) (message.Subscriber, string, error) { return ch, "", nil },
		fanOut: func() (message.Subscriber, error) { return ch, nil },
		logger: wl,
	}
}

// RedisOptions tune the Redis Streams bus.
type RedisOptions struct {
	// Prefix is prepended to the stream key ("events").
	Prefix string
	// MaxLen trims the stream to about this many messages (100000). A
	// message trimmed before a group read it is published again by the
	// relay, because the group never marked it consumed.
	MaxLen int64
	// ClaimIdle is how long a delivered, unacknowledged message waits
	// before another consumer of its group may claim it (10s).
	ClaimIdle time.Duration
	// Partitions spreads commits over this many streams by stream id
	// (1), so that a consumer group's work can be split among workers
	// while each stream's commits stay in order in one partition.
	Partitions int
}

// NewRedis returns the Redis Streams bus.
func NewRedis(c redis.UniversalClient, o RedisOptions, logger *slog.Logger) (*Bus, error) {
	if o.MaxLen <= 0 {
		o.MaxLen = 100_000
	}
	if o.ClaimIdle <= 0 {
		o.ClaimIdle = 10 * time.Second
	}
	if o.Partitions <= 0 {
		o.Partitions = 1
	}
	wl := watermill.NewSlogLogger(logger)
	topic := o.Prefix + "events"
	maxlens := map[string]int64{}
	for p := range o.Partitions {
		maxlens[partitionTopic(topic, p, o.Partitions)] = o.MaxLen
	}
	pub, err := redisstream.NewPublisher(redisstream.PublisherConfig{
		Client:  c,
		Maxlens: maxlens,
	}, wl)
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	host, _ := os.Hostname()
	return &Bus{
		topic:     topic,
		parts:     o.Partitions,
		pub:       pub,
		redis:     c,
		prefix:    o.Prefix,
		claimIdle: o.ClaimIdle,
		newSub: func(group string) (message.Subscriber, string, error) {
			consumer := fmt.Sprintf("%s-%d-%s", host, os.Getpid(), watermill.NewShortUUID())
			sub, err := redisstream.NewSubscriber(redisstream.SubscriberConfig{
				Client:                        c,
				ConsumerGroup:                 group,
				Consumer:                      consumer,
				OldestId:                      "0",
				BlockTime:                     100 * time.Millisecond,
				DisableIndefiniteInitialBlock: true,
				ClaimInterval:                 o.ClaimIdle / 4,
				MaxIdleTime:                   o.ClaimIdle,
				CheckConsumersInterval:        time.Minute,
				ConsumerTimeout:               10 * time.Minute,
				// A vanished group (Redis restarted) ends the subscription
				// so that the consumer subscribes again and recreates it.
				ShouldStopOnReadErrors: func(err error) bool { return strings.Contains(err.Error(), "NOGROUP") },
				// Watermill reclaims the pending messages of consumers idle
				// for ClaimIdle (XPENDING + XCLAIM, what XAUTOCLAIM does in
				// one call); count each reclaim so operators see it.
				ShouldClaimPendingMessage: func(xp redis.XPendingExt) bool {
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					defer cancel()
					c.HIncrBy(ctx, o.Prefix+"reclaimed", group, 1)
					logger.Warn("bus: reclaiming a message of an idle consumer", "group", group, "consumer", xp.Consumer,
						"id", xp.ID, "idle_ms", xp.Idle.Milliseconds(), "deliveries", xp.RetryCount)
					return true
				},
			}, wl)
			return sub, consumer, err
		},
		fanOut: func() (message.Subscriber, error) {
			return redisstream.NewSubscriber(redisstream.SubscriberConfig{
				Client: c, FanOutOldestId: "$", BlockTime: 100 * time.Millisecond, DisableIndefiniteInitialBlock: true,
			}, wl)
		},
		logger: wl,
	}, nil
}

// Topic is the name of the stream (or channel) that carries commits, or
// the prefix of its partitions' names.
func (b *Bus) Topic() string { return b.topic }

// Partitions is how many streams commits are spread over.
func (b *Bus) Partitions() int { return b.parts }

// PartitionTopic is the name of partition p's stream.
func (b *Bus) PartitionTopic(p int) string { return partitionTopic(b.topic, p, b.parts) }

func partitionTopic(topic string, p, parts int) string {
	if parts <= 1 {
		return topic
	}
	return topic + "." + strconv.Itoa(p)
}

// Partition is the partition a stream's commits go to.
func (b *Bus) Partition(stream string) int {
	if b.parts <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(stream))
	return int(h.Sum32() % uint32(b.parts))
}

// Redis returns the Redis client of a Redis bus, or nil.
func (b *Bus) Redis() redis.UniversalClient { return b.redis }

// Publish puts commits on the bus, each on its stream's partition, in the
// given order within a partition.
func (b *Bus) Publish(commits ...eventstore.Commit) error {
	byPart := make([][]*message.Message, b.parts)
	for _, c := range commits {
		m, err := Encode(c)
		if err != nil {
			return err
		}
		p := b.Partition(c.StreamID)
		byPart[p] = append(byPart[p], m)
	}
	for p, msgs := range byPart {
		if len(msgs) == 0 {
			continue
		}
		if err := b.pub.Publish(b.PartitionTopic(p), msgs...); err != nil {
			return fmt.Errorf("bus: publish: %w", err)
		}
	}
	return nil
}

// Subscribe opens a subscription for a consumer group to one partition.
// It ends when ctx ends or the underlying stream fails; subscribe again
// then.
func (b *Bus) Subscribe(ctx context.Context, group string, partition int) (<-chan *message.Message, error) {
	sub, consumer, err := b.newSub(group)
	if err != nil {
		return nil, fmt.Errorf("bus: subscriber for %s: %w", group, err)
	}
	topic := b.PartitionTopic(partition)
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("bus: subscribe %s: %w", group, err)
	}
	if consumer == "" {
		return ch, nil
	}
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		for m := range ch {
			select {
			case out <- m:
			case <-ctx.Done(): // left pending, handed back below
			}
		}
		b.handBack(topic, group, consumer)
	}()
	return out, nil
}

// handBack makes the messages a closed subscription read but did not
// acknowledge claimable at once (idle as long as the claim threshold), so
// that the process the group's lease goes to next picks them up when it
// subscribes rather than a claim interval later. It runs before the
// subscription's channel closes, so before the lease is given up.
func (b *Bus) handBack(stream, group, consumer string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := "-"
	for {
		pend, err := b.redis.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: stream, Group: group, Consumer: consumer,
			Start: start, End: "+", Count: 100}).Result()
		if err != nil || len(pend) == 0 {
			return
		}
		args := []any{"XCLAIM", stream, group, consumer, 0}
		for _, p := range pend {
			args = append(args, p.ID)
		}
		args = append(args, "IDLE", (b.claimIdle + time.Second).Milliseconds(), "JUSTID")
		if err := b.redis.Do(ctx, args...).Err(); err != nil {
			b.logger.Error("bus: hand back pending messages", err, watermill.LogFields{"group": group, "consumer": consumer})
			return
		}
		if len(pend) < 100 {
			return
		}
		start = "(" + pend[len(pend)-1].ID
	}
}

// SubscribeAll opens a subscription to every message published from now
// on, on every partition, in no consumer group: each process gets its own
// copy, and nothing is redelivered (callers fill gaps from the log).
func (b *Bus) SubscribeAll(ctx context.Context) (<-chan *message.Message, error) {
	sub, err := b.fanOut()
	if err != nil {
		return nil, fmt.Errorf("bus: fan-out subscriber: %w", err)
	}
	if b.parts == 1 {
		ch, err := sub.Subscribe(ctx, b.topic)
		if err != nil {
			return nil, fmt.Errorf("bus: fan-out subscribe: %w", err)
		}
		return ch, nil
	}
	out := make(chan *message.Message)
	var wg sync.WaitGroup
	for p := range b.parts {
		ch, err := sub.Subscribe(ctx, b.PartitionTopic(p))
		if err != nil {
			return nil, fmt.Errorf("bus: fan-out subscribe: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range ch {
				select {
				case out <- m:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	return out, nil
}

// Reclaimed returns how many pending messages each group took over from
// idle consumers (Redis only).
func (b *Bus) Reclaimed(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	if b.redis == nil {
		return out, nil
	}
	m, err := b.redis.HGetAll(ctx, b.prefix+"reclaimed").Result()
	if err != nil {
		return nil, err
	}
	for g, v := range m {
		out[g], _ = strconv.ParseInt(v, 10, 64)
	}
	return out, nil
}

// Close closes the publisher.
func (b *Bus) Close() error { return b.pub.Close() }

// Encode turns a commit into a message.
func Encode(c eventstore.Commit) (*message.Message, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("bus: encode commit %d: %w", c.Position, err)
	}
	m := message.NewMessage("c"+strconv.FormatInt(c.Position, 10), payload)
	m.Metadata.Set(MetaPosition, strconv.FormatInt(c.Position, 10))
	m.Metadata.Set(MetaStream, c.StreamID)
	m.Metadata.Set(MetaVersion, strconv.FormatInt(c.Version, 10))
	if len(c.Events) > 0 && c.Events[0].Meta.CorrelationID != "" {
		m.Metadata.Set(MetaCorrelation, c.Events[0].Meta.CorrelationID)
	}
	return m, nil
}

// Decode turns a message back into a commit, decoding (and upcasting) its
// events with reg.
func Decode(reg *eventstore.Registry, m *message.Message) (eventstore.Commit, error) {
	var c eventstore.Commit
	if err := json.Unmarshal(m.Payload, &c); err != nil {
		return c, fmt.Errorf("bus: decode message %s: %w", m.UUID, err)
	}
	for i, e := range c.Events {
		ev, err := reg.Decode(e.Name, e.Data)
		if err != nil {
			return c, fmt.Errorf("bus: commit %d: %w", c.Position, err)
		}
		c.Events[i].Event = ev
		c.Events[i].Name = ev.Name()
	}
	return c, nil
}
