package broker_test

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap/zaptest"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// TestReleaseSlotStartsTheNextDeliveryAndShutdownStillWaits: with one
// concurrency slot, a handler that releases its slot lets the next delivery
// start while it still holds its own; a shutdown then waits for that handler
// to settle its delivery before Run returns, and nothing is left unacked.
func TestReleaseSlotStartsTheNextDeliveryAndShutdownStillWaits(t *testing.T) {
	t.Parallel()
	url, _ := declaredVHost(t, "1s")
	ctx := context.Background()

	conn, err := amqp.Dial(url)
	testinfra.Must(t, err, "dial")
	defer conn.Close()
	ch, err := conn.Channel()
	testinfra.Must(t, err, "channel")
	for _, body := range []string{"first", "second"} {
		testinfra.Must(t, ch.PublishWithContext(ctx, "", broker.WorkQueue, false, false,
			amqp.Publishing{Body: []byte(body), DeliveryMode: amqp.Persistent}), "publish")
	}

	cons, err := broker.NewConsumer(broker.ConsumerConfig{URL: url, Queue: broker.WorkQueue, Prefetch: 4, Concurrency: 1,
		DrainTimeout: 30 * time.Second, Logger: zaptest.NewLogger(t)})
	testinfra.Must(t, err, "consumer")
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	firstWaiting := make(chan struct{})
	unblockFirst := make(chan struct{})
	secondDone := make(chan struct{})
	h := func(_ context.Context, d *broker.Delivery) {
		switch string(d.Body) {
		case "first":
			d.ReleaseSlot()
			d.ReleaseSlot() // twice is harmless
			close(firstWaiting)
			<-unblockFirst
		case "second":
			defer close(secondDone)
		}
		if err := d.Ack(false); err != nil {
			t.Errorf("ack %s: %v", d.Body, err)
		}
	}
	runDone := make(chan error, 1)
	go func() { runDone <- cons.Run(runCtx, h) }()

	<-firstWaiting
	select {
	case <-secondDone:
	case <-time.After(20 * time.Second):
		t.Fatal("the second delivery did not start while the first, its slot released, was waiting")
	}
	stop()
	select {
	case err := <-runDone:
		t.Fatalf("Run returned (%v) while a handler still held its delivery", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(unblockFirst)
	if err := <-runDone; err != nil {
		t.Fatalf("Run() = %v, want nil after a clean drain", err)
	}
	q, err := ch.QueueDeclarePassive(broker.WorkQueue, true, false, false, false, nil)
	testinfra.Must(t, err, "inspect queue")
	if q.Messages != 0 {
		t.Errorf("messages left in the queue = %d, want 0 (both settled)", q.Messages)
	}
}
