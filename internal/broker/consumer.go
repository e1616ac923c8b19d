package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
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
	// CancelGrace is how long a stopping consumer waits for its handlers
	// after it has cancelled them at the end of the drain timeout.
	CancelGrace = 3 * time.Second
	// closeTimeout bounds closing a subscription's channels and connections,
	// and the wait for the broker's reply to a consumer cancel.
	closeTimeout = 2 * time.Second
	// cancelFirstWait is how long a stop waits for the consumer cancel's
	// reply before it returns the unstarted deliveries.
	cancelFirstWait = 500 * time.Millisecond
	// ShutdownMargin is how long after WORKER_DRAIN_TIMEOUT a stopping
	// worker may still take to exit, at worst: the consumer cancel's reply
	// (cancelFirstWait, closeTimeout), CancelGrace for the cancelled
	// handlers to return their deliveries, closing the broker connections
	// (closeTimeout), and the metrics server's shutdown (2 s). Orchestrators
	// must wait at least WORKER_DRAIN_TIMEOUT + ShutdownMargin before they
	// kill the process.
	ShutdownMargin = 10 * time.Second
)

// ConsumerConfig configures a Consumer.
type ConsumerConfig struct {
	// URL is the broker URL.
	URL string
	// Name is the connection name shown in the management UI; the
	// publishing connection is called Name + "-publish".
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
	// PrefetchBytes bounds the message bodies the consumer holds (received
	// and not yet settled) with TCP back-pressure (see budget.go); 0 is no
	// bound beyond Prefetch.
	PrefetchBytes int64
	// Concurrency is the most handlers running at once.
	Concurrency int
	// DrainTimeout bounds how long shutdown waits for running handlers;
	// after it their context is cancelled, and after CancelGrace more the
	// consumer returns whatever they do. Default DrainTimeoutDefault.
	DrainTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the jittered exponential backoff
	// between connection attempts. Defaults ReconnectMinDefault/MaxDefault.
	ReconnectMin, ReconnectMax time.Duration
	// DeliveryLimit is the queues' x-delivery-limit; Delivery.Return uses
	// it (see there). 0: Return always nacks.
	DeliveryLimit int
	// Gate, if set, pauses and resumes consumption (see Gate).
	Gate *Gate
	// Logger receives connection events. Default: no-op.
	Logger *zap.Logger
	// OnState, if set, is called with true when consuming starts and false
	// when the connection is lost or closed, or consumption paused.
	OnState func(consuming bool)
	// OnReconnect, if set, is called each time a lost connection is
	// re-established.
	OnReconnect func()
	// OnReturn, if set, is called for every delivery returned to its queue
	// unprocessed (Delivery.Return, and the prefetched deliveries a pause
	// or a shutdown gives back).
	OnReturn func()
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
	case c.PrefetchBytes < 0:
		return fmt.Errorf("consumer: PrefetchBytes must not be negative, got %d", c.PrefetchBytes)
	}
	return nil
}

// Delivery is one message, the queue it came from and the session to
// publish on. The handler must settle it exactly once: Ack, Reject, Nack or
// Return. Settling a delivery whose connection has died fails harmlessly
// and the broker redelivers it.
type Delivery struct {
	amqp.Delivery
	// Session publishes (retries, dead letters) on the consumer's
	// publishing connection.
	Session *Session
	// Queue is the queue the delivery came from.
	Queue string

	cons    *Consumer
	release func() // gives the concurrency slot back; nil outside a Consumer
	settled atomic.Bool
	// stopping is closed when the consumer stops taking deliveries (a
	// shutdown, a pause, a lost connection); nil outside a Consumer.
	stopping <-chan struct{}
}

// Stopping is closed when the consumer stops taking deliveries: a shutdown,
// a pause or a lost connection. A handler that has not started its work
// yet should give its delivery back (Return) rather than start it. It is
// never closed outside a Consumer.
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

// Ack acknowledges the delivery.
func (d *Delivery) Ack(multiple bool) error {
	d.settled.Store(true)
	return d.Delivery.Ack(multiple)
}

// Reject rejects the delivery. Reject(true) requeues it and, on a quorum
// queue, counts toward its delivery limit on every RabbitMQ version: it is
// the signal that processing failed.
func (d *Delivery) Reject(requeue bool) error {
	d.settled.Store(true)
	return d.Delivery.Reject(requeue)
}

// Nack negatively acknowledges the delivery.
func (d *Delivery) Nack(multiple, requeue bool) error {
	d.settled.Store(true)
	return d.Delivery.Nack(multiple, requeue)
}

// Settled reports whether the delivery has been settled.
func (d *Delivery) Settled() bool { return d.settled.Load() }

// returnRepublishAt is the share of the delivery limit past which Return
// republishes instead of requeueing.
const returnRepublishAt = 2

// Return gives the delivery back to its queue unprocessed, without
// spending an attempt and without dead-lettering it: the task was not
// tried, or failed only because of our own outage.
//
// It requeues with basic.nack, which RabbitMQ 4.3 and later do not count
// toward a quorum queue's delivery limit (basic.reject and a closed
// channel do). Earlier versions count every return, nack included
// (measured on 3.10: each nack raised x-delivery-count by one). So that
// repeated outages can never push a task over the delivery limit into the
// DLQ, a delivery that has already used half of the limit
// (x-delivery-count) is republished to its queue, unchanged and with a
// confirm, and then acked: a new message with a fresh count. If that
// publish fails, it is nacked after all.
func (d *Delivery) Return() error {
	ctx, cancel := context.WithTimeout(context.Background(), returnPublishTimeout)
	defer cancel()
	return d.ReturnContext(ctx)
}

// returnPublishTimeout bounds the republish of Return.
const returnPublishTimeout = 5 * time.Second

// ReturnContext is Return with ctx bounding the republish: when ctx ends
// first, the delivery is nacked after all.
func (d *Delivery) ReturnContext(ctx context.Context) error {
	if ch, ok := d.Acknowledger.(*amqp.Channel); ok && ch.IsClosed() {
		// The broker has requeued it already; republishing would copy it.
		d.settled.Store(true)
		return amqp.ErrClosed
	}
	if d.cons != nil && d.cons.cfg.OnReturn != nil {
		defer d.cons.cfg.OnReturn()
	}
	if d.cons != nil && d.Session != nil && d.cons.cfg.DeliveryLimit > 0 && ctx.Err() == nil &&
		HeaderInt(d.Headers, "x-delivery-count")+1 > d.cons.cfg.DeliveryLimit/returnRepublishAt {
		msg := PublishingOf(d.Delivery)
		delete(msg.Headers, "x-delivery-count")
		if err := d.Session.Publish(ctx, "", d.Queue, msg); err == nil {
			return d.Ack(false)
		}
	}
	return d.Nack(false, true)
}

// PublishingOf returns d's message as a persistent publishing: body,
// properties and a copy of the headers.
func PublishingOf(d amqp.Delivery) amqp.Publishing {
	hdr := make(amqp.Table, len(d.Headers))
	for k, v := range d.Headers {
		hdr[k] = v
	}
	return amqp.Publishing{
		Headers:         hdr,
		ContentType:     d.ContentType,
		ContentEncoding: d.ContentEncoding,
		DeliveryMode:    amqp.Persistent,
		Priority:        d.Priority,
		CorrelationId:   d.CorrelationId,
		ReplyTo:         d.ReplyTo,
		Expiration:      d.Expiration,
		MessageId:       d.MessageId,
		Timestamp:       d.Timestamp,
		Type:            d.Type,
		UserId:          d.UserId,
		AppId:           d.AppId,
		Body:            d.Body,
	}
}

// Handler processes one delivery. ctx is cancelled only when the drain
// timeout of a shutdown expires; the handler should then return the
// delivery (Return) and return promptly.
type Handler func(ctx context.Context, d *Delivery)

// Consumer consumes a queue with manual acks, runs handlers concurrently,
// reconnects forever with jittered exponential backoff, re-subscribes after
// a consumer cancel, pauses while its Gate is closed, bounds the bytes it
// holds, and drains in-flight handlers on shutdown within a bounded time.
type Consumer struct {
	cfg           ConsumerConfig
	consuming     atomic.Bool
	subscriptions atomic.Uint64
	held          atomic.Pointer[byteBudget]
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

// HeldBytes returns the body bytes the current subscription holds (0 when
// there is no byte budget).
func (c *Consumer) HeldBytes() int64 {
	if b := c.held.Load(); b != nil {
		return b.Held()
	}
	return 0
}

func (c *Consumer) setConsuming(v bool) {
	c.consuming.Store(v)
	if c.cfg.OnState != nil {
		c.cfg.OnState(v)
	}
}

// ending says why a subscription ended.
type ending int

const (
	endLost ending = iota
	endShutdown
	endPaused
)

// Run consumes until ctx is cancelled, then stops consuming, waits for
// in-flight handlers (up to the drain timeout, then cancels them and waits
// CancelGrace more) and closes the connections. It returns nil after a
// shutdown.
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
	defer c.waitAll(&all)

	lost := false
	for {
		if !c.waitOpen(ctx) {
			return nil
		}
		sub, err := c.subscribe()
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
		lost = false
		log.Info("consuming", zap.String("queue", c.cfg.Queue), zap.Int("prefetch", c.cfg.Prefetch),
			zap.Int("concurrency", c.cfg.Concurrency))
		c.setConsuming(true)
		end := c.consume(ctx, hcancel, sub, sem, &all, hctx, h)
		c.setConsuming(false)
		switch end {
		case endShutdown:
			return nil
		case endPaused:
		case endLost:
			lost = true
			log.Warn("lost broker subscription, reconnecting")
		}
	}
}

// waitOpen waits until the gate is open; false means ctx ended first.
func (c *Consumer) waitOpen(ctx context.Context) bool {
	logged := false
	for {
		if ctx.Err() != nil {
			return false
		}
		paused, changed, reason := c.cfg.Gate.State()
		if !paused {
			if logged {
				c.cfg.Logger.Info("resuming consumption")
			}
			return true
		}
		if !logged {
			c.cfg.Logger.Warn("consumption paused", zap.NamedError("reason", reason))
			logged = true
		}
		select {
		case <-ctx.Done():
			return false
		case <-changed:
		}
	}
}

// waitAll waits for every handler, but no longer than CancelGrace once
// they have been cancelled: Run's exit time stays bounded even if a
// handler ignores its context.
func (c *Consumer) waitAll(all *sync.WaitGroup) {
	if !waitFor(all, CancelGrace) {
		c.cfg.Logger.Error("handlers still running after their context was cancelled; exiting without them")
	}
}

func (c *Consumer) consumerTag() string {
	return fmt.Sprintf("%s-%d-%d", c.cfg.Name, os.Getpid(), c.subscriptions.Add(1))
}

// subscription is one connection's worth of consuming.
type subscription struct {
	conn   *amqp.Connection // consuming, throttled by budget
	budget *byteBudget      // nil without PrefetchBytes
	pub    *Session         // publishing
	lanes  []*lane          // the priority lane first, if any
}

// lane is one consumed queue: its channel and the deliveries the pump has
// taken from the library but the dispatcher has not started.
type lane struct {
	queue string
	ch    *amqp.Channel
	tag   string
	// local is buffered to the lane's prefetch: the broker never sends
	// more unacked deliveries than that, so the pump never blocks on it.
	local chan amqp.Delivery
	done  chan struct{} // closed when the pump exits
	quit  chan struct{} // closed when the subscription is wound down

	deliveriesFrom <-chan amqp.Delivery // the library's

	mu       sync.Mutex // orders the pump's push against stop
	stopping bool       // once set, the pump returns what arrives
}

func (c *Consumer) dialConsume() (*amqp.Connection, *byteBudget, error) {
	cfg := amqp.Config{Properties: clientProperties(c.cfg.Name)}
	var budget *byteBudget
	if c.cfg.PrefetchBytes > 0 {
		budget = newByteBudget(c.cfg.PrefetchBytes)
		dial := amqp.DefaultDial(30 * time.Second)
		cfg.Dial = func(network, addr string) (net.Conn, error) {
			conn, err := dial(network, addr)
			if err != nil {
				return nil, err
			}
			return &throttledConn{Conn: conn, budget: budget}, nil
		}
	}
	conn, err := amqp.DialConfig(c.cfg.URL, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to broker: %w", err)
	}
	return conn, budget, nil
}

func (c *Consumer) subscribe() (*subscription, error) {
	conn, budget, err := c.dialConsume()
	if err != nil {
		return nil, err
	}
	sub := &subscription{conn: conn, budget: budget}
	fail := func(err error) (*subscription, error) {
		withTimeout(closeTimeout, func() { c.closeSubscription(sub) })
		return nil, err
	}
	if sub.pub, err = Dial(c.cfg.URL, c.cfg.Name+"-publish"); err != nil {
		return fail(err)
	}
	ch, err := conn.Channel()
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
	_ = ch.Close()
	if c.cfg.PriorityQueue != "" {
		// The priority lane has a prefetch of the concurrency: its tasks
		// start first anyway.
		l, err := c.openLane(conn, c.cfg.PriorityQueue, c.cfg.Concurrency)
		if err != nil {
			return fail(err)
		}
		sub.lanes = append(sub.lanes, l)
	}
	l, err := c.openLane(conn, c.cfg.Queue, c.cfg.Prefetch)
	if err != nil {
		return fail(err)
	}
	sub.lanes = append(sub.lanes, l)
	c.held.Store(budget)
	return sub, nil
}

func (c *Consumer) openLane(conn *amqp.Connection, queue string, prefetch int) (*lane, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel for %s: %w", queue, err)
	}
	if err := ch.Qos(prefetch, 0, false); err != nil {
		return nil, fmt.Errorf("set prefetch of %s: %w", queue, err)
	}
	tag := c.consumerTag()
	deliveries, err := ch.Consume(queue, tag, false, false, false, false, nil)
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", queue, err)
	}
	return &lane{queue: queue, ch: ch, tag: tag, local: make(chan amqp.Delivery, prefetch), done: make(chan struct{}), quit: make(chan struct{}),
		deliveriesFrom: deliveries}, nil
}

// pump moves the library's deliveries to the lane's local queue, counting
// their bytes against the budget, until the library closes its channel
// (consumer cancelled, channel or connection closed). Once the lane is
// stopping it returns what arrives instead.
func (c *Consumer) pump(sub *subscription, l *lane) {
	defer close(l.done)
	for d := range l.deliveriesFrom {
		if sub.budget != nil {
			sub.budget.take(deliverySize(d))
		}
		l.mu.Lock()
		if l.stopping {
			l.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			c.giveBack(ctx, sub, l, d)
			cancel()
			continue
		}
		select {
		case l.local <- d:
			l.mu.Unlock()
		default:
			// Full: not within the prefetch window, but never block
			// holding the lock stop takes; stop returns it on its second
			// pass if it lands late.
			l.mu.Unlock()
			select {
			case l.local <- d:
			case <-l.quit:
				return // the subscription is gone; the broker requeues it
			}
		}
	}
}

func deliverySize(d amqp.Delivery) int64 { return int64(len(d.Body)) + deliveryOverhead }

// giveBack returns a delivery that was never started and frees its bytes;
// ctx bounds a republish (see Delivery.Return).
func (c *Consumer) giveBack(ctx context.Context, sub *subscription, l *lane, d amqp.Delivery) {
	dd := &Delivery{Delivery: d, Session: sub.pub, Queue: l.queue, cons: c}
	if err := dd.ReturnContext(ctx); err != nil {
		c.cfg.Logger.Debug("return an unstarted delivery", zap.Error(err))
	}
	if sub.budget != nil {
		sub.budget.give(deliverySize(d))
	}
}

// stopLanes makes the pumps return whatever arrives from now on, and
// returns what they queued but nobody started, republishing (see
// Delivery.Return) for at most closeTimeout in all.
func (c *Consumer) stopLanes(sub *subscription) int {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	n := 0
	for _, l := range sub.lanes {
		l.mu.Lock()
		l.stopping = true
		l.mu.Unlock()
		for {
			select {
			case d := <-l.local:
				c.giveBack(ctx, sub, l, d)
				n++
				continue
			default:
			}
			break
		}
	}
	return n
}

// consume dispatches deliveries until the subscription ends, then winds it
// down: it returns the deliveries not started, cancels the consumers, waits
// for the running handlers (up to the drain timeout; on shutdown it then
// cancels them and waits CancelGrace more) and closes the connections.
func (c *Consumer) consume(ctx context.Context, hcancel context.CancelFunc, sub *subscription,
	sem chan struct{}, all *sync.WaitGroup, hctx context.Context, h Handler) ending {
	for _, l := range sub.lanes {
		go c.pump(sub, l)
	}
	var prio, work *lane
	work = sub.lanes[len(sub.lanes)-1]
	var prioLocal <-chan amqp.Delivery
	var prioDone <-chan struct{}
	if len(sub.lanes) == 2 {
		prio = sub.lanes[0]
		prioLocal, prioDone = prio.local, prio.done
	}
	pubClosed := sub.pub.conn.NotifyClose(make(chan *amqp.Error, 1))
	stopping := make(chan struct{})
	var inflight sync.WaitGroup
	end := endLost
	paused, gateChanged, _ := c.cfg.Gate.State()
	if paused {
		end = endPaused
	}
loop:
	for !paused {
		// Take a slot first, then the next delivery, preferring the
		// priority lane, so a priority task never waits behind the backlog.
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			end = endShutdown
			break loop
		case <-gateChanged:
			if paused, gateChanged, _ = c.cfg.Gate.State(); paused {
				end = endPaused
				break loop
			}
			continue
		case <-prioDone:
			break loop
		case <-work.done:
			break loop
		case <-pubClosed:
			break loop
		}
		var d amqp.Delivery
		from := work
		select {
		case d = <-prioLocal:
			from = prio
		default:
			select {
			case d = <-prioLocal:
				from = prio
			case d = <-work.local:
			case <-ctx.Done():
				<-sem
				end = endShutdown
				break loop
			case <-gateChanged:
				<-sem
				if paused, gateChanged, _ = c.cfg.Gate.State(); paused {
					end = endPaused
					break loop
				}
				continue
			case <-prioDone:
				<-sem
				break loop
			case <-work.done:
				<-sem
				break loop
			case <-pubClosed:
				<-sem
				break loop
			}
		}
		inflight.Add(1)
		all.Add(1)
		dd := &Delivery{Delivery: d, Session: sub.pub, Queue: from.queue, cons: c, stopping: stopping}
		go func() {
			defer all.Done()
			defer inflight.Done()
			if sub.budget != nil {
				defer sub.budget.give(deliverySize(d))
			}
			release := sync.OnceFunc(func() { <-sem })
			defer release()
			dd.release = release
			defer c.recoverHandler(dd)
			h(hctx, dd)
		}()
	}
	c.setConsuming(false)
	close(stopping) // handlers still waiting to start give their deliveries back
	// Stop the flow first: the broker handles a channel's frames in order,
	// so once basic.cancel is written, the deliveries we return after it are
	// not sent back to us. The cancel waits for its reply, which a spent
	// byte budget may hold up; returning the unstarted deliveries frees the
	// budget, so that wait is short.
	cancelled := make(chan struct{})
	go func() {
		defer close(cancelled)
		for _, l := range sub.lanes {
			_ = l.ch.Cancel(l.tag, false)
		}
	}()
	select {
	case <-cancelled:
	case <-time.After(cancelFirstWait):
	}
	returned := c.stopLanes(sub)
	switch end {
	case endShutdown:
		c.cfg.Logger.Info("stopping: no new deliveries, draining in-flight tasks",
			zap.Duration("drain_timeout", c.cfg.DrainTimeout), zap.Int("returned_unstarted", returned))
	case endPaused:
		c.cfg.Logger.Warn("pausing: no new deliveries, in-flight tasks settle or return themselves",
			zap.Int("returned_unstarted", returned))
	}
	if !waitFor(&inflight, c.cfg.DrainTimeout) {
		if end == endShutdown || ctx.Err() != nil {
			c.cfg.Logger.Warn("drain timeout expired, cancelling in-flight tasks; they return to the queue")
			hcancel()
			waitFor(&inflight, CancelGrace)
		} else {
			c.cfg.Logger.Warn("in-flight tasks did not settle within the drain timeout; closing the channel returns them")
		}
	}
	// The pumps return what was still on its way, and exit when the broker
	// confirms the cancel (or the channel is gone).
	select {
	case <-cancelled:
	case <-time.After(closeTimeout):
	}
	c.stopLanes(sub)
	withTimeout(closeTimeout, func() { c.closeSubscription(sub) })
	for _, l := range sub.lanes {
		close(l.quit)
		select {
		case <-l.done:
		case <-time.After(closeTimeout):
		}
	}
	return end
}

// recoverHandler is the last line against a handler that panics: the
// panic is logged, and a delivery left unsettled is rejected with requeue,
// which counts toward the queue's delivery limit on every RabbitMQ version,
// so a delivery that panics every worker ends in the DLQ, not in a loop.
// The worker recovers its own panics before this; this one only catches
// what escapes it.
func (c *Consumer) recoverHandler(d *Delivery) {
	r := recover()
	if r == nil {
		return
	}
	c.cfg.Logger.Error("handler panicked", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()),
		zap.String("message_id", d.MessageId), zap.Bool("settled", d.Settled()))
	if !d.Settled() {
		if err := d.Reject(true); err != nil {
			c.cfg.Logger.Debug("reject after panic", zap.Error(err))
		}
	}
}

// closeSubscription closes the channels and connections; callers bound it
// with withTimeout (a close can hang on a dead peer).
func (c *Consumer) closeSubscription(sub *subscription) {
	if sub.budget != nil {
		sub.budget.close() // a read held back by the budget must not stall the close
	}
	for _, l := range sub.lanes {
		_ = l.ch.Close()
	}
	if sub.conn != nil {
		if err := sub.conn.CloseDeadline(time.Now().Add(closeTimeout)); err != nil && !errors.Is(err, amqp.ErrClosed) {
			c.cfg.Logger.Debug("close consume connection", zap.Error(err))
		}
	}
	if sub.pub != nil {
		if err := sub.pub.Close(); err != nil {
			c.cfg.Logger.Debug("close publish session", zap.Error(err))
		}
	}
	c.held.Store(nil)
}

// withTimeout runs f and waits for it at most d (f goes on in the
// background if it takes longer: a close that hangs on a dead peer).
func withTimeout(d time.Duration, f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// waitFor waits for wg at most d and reports whether it finished.
func waitFor(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
