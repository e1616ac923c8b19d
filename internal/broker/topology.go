// Package broker owns everything RabbitMQ: the topology of the public
// contract, a reconnecting consumer, and confirmed publishing.
package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"

	"github.com/djmeta/enrichment/internal/config"
)

// Names fixed by the public contract.
const (
	Exchange   = "metadata_enrichment"
	RoutingKey = "enrich"
	WorkQueue  = "metadata_enrichment_queue"
	// PriorityQueue is the priority lane (an extension of the contract):
	// tasks published with PriorityRoutingKey are started before any
	// backlog in the work queue, on every RabbitMQ version.
	PriorityQueue      = "metadata_enrichment_priority"
	PriorityRoutingKey = "enrich.priority"
	RetryQueuePrefix   = "metadata_enrichment_retry_"
	DeadLetterExch     = "metadata_enrichment_dlx"
	DeadLetterQueue    = "metadata_enrichment_dlq"
)

// Headers the worker adds when it dead-letters or retries a message.
const (
	HeaderReason       = "x-enrichment-reason"
	HeaderError        = "x-enrichment-error"
	HeaderAttempts     = "x-enrichment-attempts"
	HeaderFirstFailure = "x-enrichment-first-failure"
)

// Dead-letter reasons (the x-enrichment-reason header values).
const (
	ReasonInvalid   = "invalid_message"
	ReasonPermanent = "permanent_error"
	ReasonExhausted = "retries_exhausted"
)

// Tier is one retry tier: its queue and delay.
type Tier struct {
	Name  string // as written in RETRY_DELAYS, e.g. "2s"
	Queue string // metadata_enrichment_retry_2s
	TTLms int64
}

// Topology is the whole RabbitMQ topology of the contract.
type Topology struct {
	Tiers         []Tier
	DeliveryLimit int
}

// NewTopology builds the topology for the given retry delays and quorum
// delivery limit.
func NewTopology(delays config.RetryDelays, deliveryLimit int) Topology {
	t := Topology{DeliveryLimit: deliveryLimit}
	for _, d := range delays {
		t.Tiers = append(t.Tiers, Tier{
			Name:  d.Name,
			Queue: RetryQueuePrefix + d.Name,
			TTLms: d.Delay.Milliseconds(),
		})
	}
	return t
}

// WorkQueueArgs are the work queue's arguments. Only queue-init declares
// with them; everything else declares nothing or declares passively.
//
// Quorum queue (replicated, poison-message handling) with an explicit
// delivery limit as the broker's backstop, dead-lettering to the DLX with the
// at-least-once strategy (which requires overflow=reject-publish).
func (t Topology) WorkQueueArgs() amqp.Table {
	return amqp.Table{
		"x-queue-type":           "quorum",
		"x-delivery-limit":       int64(t.DeliveryLimit),
		"x-dead-letter-exchange": DeadLetterExch,
		"x-dead-letter-strategy": "at-least-once",
		"x-overflow":             "reject-publish",
	}
}

// RetryQueueArgs are the arguments of one retry tier: a queue-level TTL (so
// every message in it waits the same time and none blocks another) that
// dead-letters back to the work exchange with the routing key publishers use.
func (t Topology) RetryQueueArgs(tier Tier) amqp.Table {
	return amqp.Table{
		"x-queue-type":              "quorum",
		"x-delivery-limit":          int64(t.DeliveryLimit),
		"x-message-ttl":             tier.TTLms,
		"x-dead-letter-exchange":    Exchange,
		"x-dead-letter-routing-key": RoutingKey,
		"x-dead-letter-strategy":    "at-least-once",
		"x-overflow":                "reject-publish",
	}
}

// DeadLetterQueueArgs are the DLQ's arguments: a durable classic queue with
// no delivery limit and no dead-lettering of its own, so messages stay until
// replayed or purged, and inspecting them (get, then requeue) can never push
// one over a delivery limit and drop it, as it would on a quorum queue
// without a DLX.
func (t Topology) DeadLetterQueueArgs() amqp.Table {
	return amqp.Table{"x-queue-type": "classic"}
}

// Declare declares the whole topology on ch, idempotently. Declaring a queue
// that exists with the same arguments is a no-op; a tier added to
// RETRY_DELAYS is a new queue, so it is added without touching the others.
func (t Topology) Declare(ch *amqp.Channel) error {
	if ch == nil {
		return errors.New("declare topology: nil channel")
	}
	if err := ch.ExchangeDeclare(Exchange, amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", Exchange, err)
	}
	if err := ch.ExchangeDeclare(DeadLetterExch, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", DeadLetterExch, err)
	}
	if _, err := ch.QueueDeclare(DeadLetterQueue, true, false, false, false, t.DeadLetterQueueArgs()); err != nil {
		return fmt.Errorf("declare queue %s: %w", DeadLetterQueue, err)
	}
	if err := ch.QueueBind(DeadLetterQueue, "", DeadLetterExch, false, nil); err != nil {
		return fmt.Errorf("bind %s to %s: %w", DeadLetterQueue, DeadLetterExch, err)
	}
	if _, err := ch.QueueDeclare(WorkQueue, true, false, false, false, t.WorkQueueArgs()); err != nil {
		return fmt.Errorf("declare queue %s: %w", WorkQueue, err)
	}
	if err := ch.QueueBind(WorkQueue, RoutingKey, Exchange, false, nil); err != nil {
		return fmt.Errorf("bind %s to %s: %w", WorkQueue, Exchange, err)
	}
	if _, err := ch.QueueDeclare(PriorityQueue, true, false, false, false, t.WorkQueueArgs()); err != nil {
		return fmt.Errorf("declare queue %s: %w", PriorityQueue, err)
	}
	if err := ch.QueueBind(PriorityQueue, PriorityRoutingKey, Exchange, false, nil); err != nil {
		return fmt.Errorf("bind %s to %s: %w", PriorityQueue, Exchange, err)
	}
	for _, tier := range t.Tiers {
		if _, err := ch.QueueDeclare(tier.Queue, true, false, false, false, t.RetryQueueArgs(tier)); err != nil {
			return fmt.Errorf("declare retry queue %s: %w", tier.Queue, err)
		}
	}
	return nil
}

// Queues lists every queue of the topology.
func (t Topology) Queues() []string {
	qs := []string{WorkQueue, PriorityQueue}
	for _, tier := range t.Tiers {
		qs = append(qs, tier.Queue)
	}
	return append(qs, DeadLetterQueue)
}

func clientProperties(name string) amqp.Table {
	return amqp.Table{"connection_name": name, "product": "djmeta-enrichment"}
}

// DeclareWithRetry declares the topology, retrying connection failures for
// up to wait (the broker may still be starting). A declaration error (such
// as a 406 for a queue that exists with other arguments) is not retried.
func (t Topology) DeclareWithRetry(ctx context.Context, url string, wait time.Duration, log *zap.Logger) error {
	deadline := time.Now().Add(wait)
	delay := 250 * time.Millisecond
	for {
		conn, err := amqp.DialConfig(url, amqp.Config{Properties: clientProperties("queue-init")})
		if err == nil {
			derr := func() error {
				defer conn.Close()
				ch, err := conn.Channel()
				if err != nil {
					return fmt.Errorf("open channel: %w", err)
				}
				defer ch.Close()
				return t.Declare(ch)
			}()
			return derr
		}
		if time.Now().Add(delay).After(deadline) {
			return fmt.Errorf("connect to broker: %w", err)
		}
		log.Warn("broker not reachable yet, retrying", zap.Error(err), zap.Duration("retry_in", delay))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// MaxHeaderCount is the largest count header (attempts, throttled retries)
// the worker believes. A header is forged or corrupt beyond it: no task is
// retried a million times.
const MaxHeaderCount = 1_000_000

// HeaderCount reads a non-negative count header written by a publisher or
// by an earlier worker. It accepts every AMQP integer type, a float that is
// a whole number, and a decimal string, from 0 to MaxHeaderCount. present
// is false when the header is absent; ok is false when it is present but
// not such a count (negative, too large, fractional, another type): callers
// treat that as absent, so a forged header can never index a slice or
// drive a count negative.
func HeaderCount(h amqp.Table, key string) (n int, present, ok bool) {
	v, present := h[key]
	if !present {
		return 0, false, false
	}
	var x int64
	switch v := v.(type) {
	case int:
		x = int64(v)
	case int8:
		x = int64(v)
	case int16:
		x = int64(v)
	case int32:
		x = int64(v)
	case int64:
		x = v
	case uint8:
		x = int64(v)
	case uint16:
		x = int64(v)
	case uint32:
		x = int64(v)
	case uint64:
		if v > MaxHeaderCount {
			return 0, true, false
		}
		x = int64(v)
	case float32:
		return headerFloat(float64(v))
	case float64:
		return headerFloat(v)
	case string:
		p, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, true, false
		}
		x = p
	default:
		return 0, true, false
	}
	if x < 0 || x > MaxHeaderCount {
		return 0, true, false
	}
	return int(x), true, true
}

func headerFloat(f float64) (int, bool, bool) {
	if f != f || f < 0 || f > MaxHeaderCount || f != float64(int64(f)) {
		return 0, true, false
	}
	return int(f), true, true
}

// HeaderInt is HeaderCount that reads anything but a valid count (absent,
// negative, too large, another type) as 0.
func HeaderInt(h amqp.Table, key string) int {
	n, _, _ := HeaderCount(h, key)
	return n
}
