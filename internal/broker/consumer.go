package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"
)

// Consumer defaults.
const (
	ReconnectMinDefault = 250 * time.Millisecond
	ReconnectMaxDefault = 30 * time.Second
	DrainTimeoutDefault = 25 * time.Second
)

// ConsumerConfig configures a Consumer.
type ConsumerConfig struct {
	// URL is the broker URL.
	URL string
	// Name is the connection name shown in the management UI.
	Name string
	// Queue is the queue to consume from; it must exist (queue-init).
	Queue string
	// PriorityQueue, if set, is consumed too, on its own channel, and its
	// deliveries are always started before Queue's: a task published there
	// overtakes any backlog in Queue.
	PriorityQueue string
	// RequiredQueues are checked passively on every connect, so a missing
	// queue is reported instead of messages being dropped.
	RequiredQueues []string
	// Prefetch is the per-consumer QoS window.
	Prefetch int
	// Concurrency is the most handlers running at once.
	Concurrency int
	// DrainTimeout bounds how long shutdown waits for running handlers;
	// after it their context is cancelled. Default DrainTimeoutDefault.
	DrainTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the jittered exponential backoff
	// between connection attempts. Defaults ReconnectMinDefault/MaxDefault.
	ReconnectMin, ReconnectMax time.Duration
	// Logger receives connection events. Default: no-op.
	Logger *zap.Logger
	// OnState, if set, is called with true when consuming starts and false
	// when the connection is lost or closed.
	OnState func(consuming bool)
	// OnReconnect, if set, is called each time a lost connection is
	// re-established.
	OnReconnect func()
}

func (c *ConsumerConfig) setDefaults() {
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DrainTimeoutDefault
	}
	if c.ReconnectMin <= 0 {
		c.ReconnectMin = ReconnectMinDefault
	}
	if c.ReconnectMax <= 0 {
		c.ReconnectMax = ReconnectMaxDefault
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Name == "" {
		c.Name = "enrichment-worker"
	}
}

func (c *ConsumerConfig) validate() error {
	switch {
	case c.URL == "":
		return errors.New("consumer: URL is required")
	case c.Queue == "":
		return errors.New("consumer: Queue is required")
	case c.Prefetch < 1:
		return fmt.Errorf("consumer: Prefetch must be at least 1, got %d", c.Prefetch)
	case c.Concurrency < 1:
		return fmt.Errorf("consumer: Concurrency must be at least 1, got %d", c.Concurrency)
	}
	return nil
}

// Delivery is one message and the session it came on. The handler must
// settle it (Ack, Reject) exactly once; settling a delivery whose
// connection has died fails harmlessly and the broker redelivers it.
type Delivery struct {
	amqp.Delivery
	Session *Session
	// release gives the delivery's concurrency slot back; nil outside a
	// Consumer.
	release func()
	// stopping is closed when the consumer starts shutting down; nil
	// outside a Consumer.
	stopping <-chan struct{}
}

// Stopping is closed when the consumer has begun to shut down: a handler
// that has not started its work yet should return without settling the
// delivery (it goes back to the queue). It is never closed outside a
// Consumer.
func (d *Delivery) Stopping() <-chan struct{} { return d.stopping }

// ReleaseSlot gives this delivery's concurrency slot to the next delivery
// while the handler goes on waiting for something that needs no CPU (its
// batch's commit). The handler still settles the delivery, and shutdown
// still waits for it; the number of deliveries in hand stays bounded by the
// prefetch window. Calling it more than once is harmless.
func (d *Delivery) ReleaseSlot() {
	if d.release != nil {
		d.release()
	}
}

// Handler processes one delivery. ctx is cancelled only when the drain
// timeout of a shutdown expires.
type Handler func(ctx context.Context, d *Delivery)

// Consumer consumes a queue with manual acks, runs handlers concurrently,
// reconnects forever with jittered exponential backoff, re-subscribes after
// a consumer cancel, and drains in-flight handlers on shutdown.
type Consumer struct {
	cfg           ConsumerConfig
	consuming     atomic.Bool
	subscriptions atomic.Uint64
}

// NewConsumer validates cfg and returns a Consumer.
func NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Consumer{cfg: cfg}, nil
}

// Consuming reports whether the consumer is subscribed right now.
func (c *Consumer) Consuming() bool { return c.consuming.Load() }

func (c *Consumer) setConsuming(v bool) {
	c.consuming.Store(v)
	if c.cfg.OnState != nil {
		c.cfg.OnState(v)
	}
}

// Run consumes until ctx is cancelled, then stops consuming, waits for
// in-flight handlers (up to the drain timeout) and closes the connection. It
// returns nil after a clean shutdown.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	log := c.cfg.Logger
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = c.cfg.ReconnectMin
	bo.MaxInterval = c.cfg.ReconnectMax
	bo.RandomizationFactor = 0.5
	bo.Multiplier = 2

	// Handlers outlive a lost connection; hctx is cancelled only at the end
	// of a shutdown's drain window.
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hcancel()
	sem := make(chan struct{}, c.cfg.Concurrency)
	var all sync.WaitGroup
	defer all.Wait()

	lost := false
	for {
		if ctx.Err() != nil {
			return nil
		}
		sess, ch, tag, deliveries, err := c.subscribe()
		var sub subscription
		if err == nil {
			sub = subscription{sess: sess, ch: ch, tag: tag, deliveries: deliveries}
			if c.cfg.PriorityQueue != "" {
				sub.pch, sub.ptag, sub.pdeliveries, err = c.subscribePriority(sess)
				if err != nil {
					_ = sess.Close()
				}
			}
		}
		if err != nil {
			wait := bo.NextBackOff()
			log.Warn("broker not available, retrying", zap.Error(err), zap.Duration("retry_in", wait))
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		bo.Reset()
		if lost && c.cfg.OnReconnect != nil {
			c.cfg.OnReconnect()
		}
		log.Info("consuming", zap.String("queue", c.cfg.Queue), zap.Int("prefetch", c.cfg.Prefetch),
			zap.Int("concurrency", c.cfg.Concurrency))
		c.setConsuming(true)
		stopped := c.consume(ctx, hcancel, sub, sem, &all, hctx, h)
		c.setConsuming(false)
		if stopped {
			return nil
		}
		lost = true
		log.Warn("lost broker subscription, reconnecting")
	}
}

func (c *Consumer) consumerTag() string {
	return fmt.Sprintf("%s-%d-%d", c.cfg.Name, os.Getpid(), c.subscriptions.Add(1))
}

func (c *Consumer) subscribe() (*Session, *amqp.Channel, string, <-chan amqp.Delivery, error) {
	sess, err := Dial(c.cfg.URL, c.cfg.Name)
	if err != nil {
		return nil, nil, "", nil, err
	}
	fail := func(err error) (*Session, *amqp.Channel, string, <-chan amqp.Delivery, error) {
		_ = sess.Close()
		return nil, nil, "", nil, err
	}
	ch, err := sess.conn.Channel()
	if err != nil {
		return fail(fmt.Errorf("open consume channel: %w", err))
	}
	for _, q := range c.cfg.RequiredQueues {
		// A passive declare fails (and closes the channel) if the queue is
		// missing; it never changes the queue's arguments.
		if _, err := ch.QueueDeclarePassive(q, true, false, false, false, nil); err != nil {
			return fail(fmt.Errorf("queue %s is missing (run queue-init): %w", q, err))
		}
	}
	if err := ch.Qos(c.cfg.Prefetch, 0, false); err != nil {
		return fail(fmt.Errorf("set prefetch: %w", err))
	}
	tag := c.consumerTag()
	deliveries, err := ch.Consume(c.cfg.Queue, tag, false, false, false, false, nil)
	if err != nil {
		return fail(fmt.Errorf("consume %s: %w", c.cfg.Queue, err))
	}
	return sess, ch, tag, deliveries, nil
}

// subscribePriority opens the priority lane on its own channel, with a
// prefetch of the concurrency (its tasks start first anyway).
func (c *Consumer) subscribePriority(sess *Session) (*amqp.Channel, string, <-chan amqp.Delivery, error) {
	ch, err := sess.conn.Channel()
	if err != nil {
		return nil, "", nil, fmt.Errorf("open priority channel: %w", err)
	}
	if err := ch.Qos(c.cfg.Concurrency, 0, false); err != nil {
		return nil, "", nil, fmt.Errorf("set priority prefetch: %w", err)
	}
	tag := c.consumerTag()
	deliveries, err := ch.Consume(c.cfg.PriorityQueue, tag, false, false, false, false, nil)
	if err != nil {
		return nil, "", nil, fmt.Errorf("consume %s: %w", c.cfg.PriorityQueue, err)
	}
	return ch, tag, deliveries, nil
}

// consume dispatches deliveries until the subscription ends. It reports
// whether it ended because of a shutdown.
type subscription struct {
	sess       *Session
	ch         *amqp.Channel
	tag        string
	deliveries <-chan amqp.Delivery
	// The priority lane; nil channels when there is none.
	pch         *amqp.Channel
	ptag        string
	pdeliveries <-chan amqp.Delivery
}

func (c *Consumer) consume(ctx context.Context, hcancel context.CancelFunc, sub subscription,
	sem chan struct{}, all *sync.WaitGroup, hctx context.Context, h Handler) bool {
	sess, ch := sub.sess, sub.ch
	deliveries, pdeliveries := sub.deliveries, sub.pdeliveries
	var inflight sync.WaitGroup
	shutdown := false
loop:
	for {
		// Take a slot first, then the next delivery, preferring the
		// priority lane, so a priority task never waits behind the backlog.
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			shutdown = true
			break loop
		}
		var d amqp.Delivery
		var ok bool
		select {
		case d, ok = <-pdeliveries:
		default:
			select {
			case d, ok = <-pdeliveries:
			case d, ok = <-deliveries:
			case <-ctx.Done():
				<-sem
				shutdown = true
				break loop
			}
		}
		if !ok {
			<-sem
			break loop // connection or channel closed, or consumer cancelled
		}
		inflight.Add(1)
		all.Add(1)
		go func() {
			defer all.Done()
			defer inflight.Done()
			release := sync.OnceFunc(func() { <-sem })
			defer release()
			h(hctx, &Delivery{Delivery: d, Session: sess, release: release, stopping: ctx.Done()})
		}()
	}
	if shutdown {
		c.cfg.Logger.Info("stopping: no new deliveries, draining in-flight tasks",
			zap.Duration("drain_timeout", c.cfg.DrainTimeout))
	}
	// Stop the flow of deliveries; prefetched ones not started stay unacked
	// and are requeued when the channel closes.
	_ = ch.Cancel(sub.tag, false)
	if sub.pch != nil {
		_ = sub.pch.Cancel(sub.ptag, false)
	}
	c.setConsuming(false)
	if !c.drain(&inflight) {
		c.cfg.Logger.Warn("drain timeout expired, cancelling in-flight tasks; they will be redelivered")
		if shutdown {
			hcancel()
		}
		c.drain(&inflight)
	}
	_ = ch.Close()
	if sub.pch != nil {
		_ = sub.pch.Close()
	}
	if err := sess.Close(); err != nil {
		c.cfg.Logger.Debug("close session", zap.Error(err))
	}
	return shutdown
}

func (c *Consumer) drain(wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(c.cfg.DrainTimeout)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
