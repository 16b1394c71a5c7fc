// Package bus carries committed events from the event store to consumers
// through Watermill: Redis Streams when a deployment has Redis, an
// in-process GoChannel in the embedded mode. Each message is one commit,
// with its position, stream id and version in the metadata.
package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
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
	topic  string
	pub    message.Publisher
	newSub func(group string) (message.Subscriber, error)
	// fanOut subscribes to every message from now on, outside any group.
	fanOut func() (message.Subscriber, error)
	logger watermill.LoggerAdapter
	redis  redis.UniversalClient
	prefix string
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
		pub:    ch,
		newSub: func(string) (message.Subscriber, error) { return ch, nil },
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
}

// NewRedis returns the Redis Streams bus.
func NewRedis(c redis.UniversalClient, o RedisOptions, logger *slog.Logger) (*Bus, error) {
	if o.MaxLen <= 0 {
		o.MaxLen = 100_000
	}
	if o.ClaimIdle <= 0 {
		o.ClaimIdle = 10 * time.Second
	}
	wl := watermill.NewSlogLogger(logger)
	topic := o.Prefix + "events"
	pub, err := redisstream.NewPublisher(redisstream.PublisherConfig{
		Client:  c,
		Maxlens: map[string]int64{topic: o.MaxLen},
	}, wl)
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	host, _ := os.Hostname()
	return &Bus{
		topic:  topic,
		pub:    pub,
		redis:  c,
		prefix: o.Prefix,
		newSub: func(group string) (message.Subscriber, error) {
			return redisstream.NewSubscriber(redisstream.SubscriberConfig{
				Client:                        c,
				ConsumerGroup:                 group,
				Consumer:                      fmt.Sprintf("%s-%d-%s", host, os.Getpid(), watermill.NewShortUUID()),
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
		},
		fanOut: func() (message.Subscriber, error) {
			return redisstream.NewSubscriber(redisstream.SubscriberConfig{
				Client: c, FanOutOldestId: "$", BlockTime: 100 * time.Millisecond, DisableIndefiniteInitialBlock: true,
			}, wl)
		},
		logger: wl,
	}, nil
}

// Topic is the name of the stream (or channel) that carries commits.
func (b *Bus) Topic() string { return b.topic }

// Redis returns the Redis client of a Redis bus, or nil.
func (b *Bus) Redis() redis.UniversalClient { return b.redis }

// Publish puts commits on the bus in the given order.
func (b *Bus) Publish(commits ...eventstore.Commit) error {
	msgs := make([]*message.Message, len(commits))
	for i, c := range commits {
		m, err := Encode(c)
		if err != nil {
			return err
		}
		msgs[i] = m
	}
	if err := b.pub.Publish(b.topic, msgs...); err != nil {
		return fmt.Errorf("bus: publish: %w", err)
	}
	return nil
}

// Subscribe opens a subscription for a consumer group. It ends when ctx
// ends or the underlying stream fails; subscribe again then.
func (b *Bus) Subscribe(ctx context.Context, group string) (<-chan *message.Message, error) {
	sub, err := b.newSub(group)
	if err != nil {
		return nil, fmt.Errorf("bus: subscriber for %s: %w", group, err)
	}
	ch, err := sub.Subscribe(ctx, b.topic)
	if err != nil {
		return nil, fmt.Errorf("bus: subscribe %s: %w", group, err)
	}
	return ch, nil
}

// SubscribeAll opens a subscription to every message published from now
// on, in no consumer group: each process gets its own copy, and nothing is
// redelivered (callers fill gaps from the log).
func (b *Bus) SubscribeAll(ctx context.Context) (<-chan *message.Message, error) {
	sub, err := b.fanOut()
	if err != nil {
		return nil, fmt.Errorf("bus: fan-out subscriber: %w", err)
	}
	ch, err := sub.Subscribe(ctx, b.topic)
	if err != nil {
		return nil, fmt.Errorf("bus: fan-out subscribe: %w", err)
	}
	return ch, nil
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
