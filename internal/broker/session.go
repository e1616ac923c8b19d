package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ErrReturned means the broker could not route a mandatory publish to any
// queue (a queue of the topology is missing: run queue-init).
var ErrReturned = errors.New("message returned by the broker as unroutable")

// ErrNacked means the broker refused a publish (negative confirm).
var ErrNacked = errors.New("publish not confirmed by the broker")

const publishIDHeader = "x-enrichment-publish-id"

// Session is one live broker connection with a channel in confirm mode for
// publishing. Publishing is safe from many goroutines.
type Session struct {
	conn *amqp.Connection
	pub  *amqp.Channel

	mu      sync.Mutex // serialises publishes on pub and guards returns
	nextID  atomic.Uint64
	returns map[string]chan struct{}
	barrier chan chan struct{} // see Pending.Wait
	done    chan struct{}      // closed when the returns drainer exits
}

// Dial opens a connection and a confirm-mode publishing channel.
func Dial(url, name string) (*Session, error) {
	conn, err := amqp.DialConfig(url, amqp.Config{Properties: clientProperties(name)})
	if err != nil {
		return nil, fmt.Errorf("connect to broker: %w", err)
	}
	s, err := newSession(conn)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return s, nil
}

func newSession(conn *amqp.Connection) (*Session, error) {
	pub, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open publish channel: %w", err)
	}
	if err := pub.Confirm(false); err != nil {
		return nil, fmt.Errorf("enable publisher confirms: %w", err)
	}
	s := &Session{
		conn:    conn,
		pub:     pub,
		returns: make(map[string]chan struct{}),
		barrier: make(chan chan struct{}),
		done:    make(chan struct{}),
	}
	// Unbuffered on purpose: the library hands a return to this drainer
	// before it processes the confirm that follows it.
	rets := pub.NotifyReturn(make(chan amqp.Return))
	go s.drainReturns(rets)
	return s, nil
}

// drainReturns marks returned publishes. It is one goroutine, so a barrier
// it answers proves that every return handed to it before has been marked.
func (s *Session) drainReturns(rets <-chan amqp.Return) {
	defer close(s.done)
	for {
		select {
		case r, ok := <-rets:
			if !ok {
				return
			}
			id, _ := r.Headers[publishIDHeader].(string)
			s.mu.Lock()
			if ch, ok := s.returns[id]; ok {
				close(ch)
				delete(s.returns, id)
			}
			s.mu.Unlock()
		case b := <-s.barrier:
			close(b)
		}
	}
}

// Connection returns the underlying connection.
func (s *Session) Connection() *amqp.Connection { return s.conn }

// Close closes the publishing channel and the connection.
func (s *Session) Close() error {
	_ = s.pub.Close()
	err := s.conn.Close()
	<-s.done
	if err != nil && !errors.Is(err, amqp.ErrClosed) {
		return fmt.Errorf("close broker connection: %w", err)
	}
	return nil
}

// Publish publishes msg as mandatory and waits for the broker's confirm. It
// returns nil only when the broker has taken responsibility for the message.
func (s *Session) Publish(ctx context.Context, exchange, key string, msg amqp.Publishing) error {
	pending, err := s.PublishAsync(ctx, exchange, key, msg)
	if err != nil {
		return err
	}
	return pending.Wait(ctx)
}

// Pending is a publish awaiting its confirm.
type Pending struct {
	s        *Session
	id       string
	dc       *amqp.DeferredConfirmation
	returned chan struct{}
}

// PublishAsync publishes msg as mandatory; Wait on the result for its confirm.
func (s *Session) PublishAsync(ctx context.Context, exchange, key string, msg amqp.Publishing) (*Pending, error) {
	id := strconv.FormatUint(s.nextID.Add(1), 10)
	hdr := make(amqp.Table, len(msg.Headers)+1)
	for k, v := range msg.Headers {
		hdr[k] = v
	}
	hdr[publishIDHeader] = id
	msg.Headers = hdr
	ret := make(chan struct{})

	s.mu.Lock()
	s.returns[id] = ret
	dc, err := s.pub.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false, msg)
	if err != nil {
		delete(s.returns, id)
		s.mu.Unlock()
		return nil, fmt.Errorf("publish to %q/%q: %w", exchange, key, err)
	}
	s.mu.Unlock()
	return &Pending{s: s, id: id, dc: dc, returned: ret}, nil
}

// Wait waits for the confirm.
func (p *Pending) Wait(ctx context.Context) error {
	defer func() {
		p.s.mu.Lock()
		delete(p.s.returns, p.id)
		p.s.mu.Unlock()
	}()
	acked, err := p.dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("wait for publish confirm: %w", err)
	}
	if !acked {
		return ErrNacked
	}
	// The broker sends basic.return before the confirm of the same message,
	// and the library hands the return to the drainer (unbuffered) before it
	// processes the confirm. A barrier through the drainer therefore
	// guarantees the return, if any, is marked before we look.
	b := make(chan struct{})
	select {
	case p.s.barrier <- b:
		<-b
	case <-p.s.done:
	case <-ctx.Done():
		return fmt.Errorf("wait for publish confirm: %w", ctx.Err())
	}
	select {
	case <-p.returned:
		return ErrReturned
	default:
		return nil
	}
}

// probeRoutingKey routes nowhere: a probe publish to it through the default
// exchange is returned unroutable and then confirmed.
const probeRoutingKey = "metadata_enrichment.probe.unroutable"

// Probe checks the broker's publish side end to end: it connects, checks
// that queues exist (passively), and publishes an empty mandatory message
// that no queue takes, expecting it back as unroutable with a confirm. A
// broker that refuses connections, lacks a queue of the topology, or blocks
// publishers (a memory or disk alarm) fails it; nothing is enqueued.
func Probe(ctx context.Context, url, name string, queues []string) error {
	sess, err := Dial(url, name)
	if err != nil {
		return err
	}
	defer func() { _ = sess.Close() }()
	ch, err := sess.conn.Channel()
	if err != nil {
		return fmt.Errorf("open probe channel: %w", err)
	}
	for _, q := range queues {
		if _, err := ch.QueueDeclarePassive(q, true, false, false, false, nil); err != nil {
			return fmt.Errorf("queue %s is missing (run queue-init): %w", q, err)
		}
	}
	_ = ch.Close()
	err = sess.Publish(ctx, "", probeRoutingKey, amqp.Publishing{})
	switch {
	case errors.Is(err, ErrReturned), err == nil:
		return nil
	default:
		return fmt.Errorf("probe publish: %w", err)
	}
}
