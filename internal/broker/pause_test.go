package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap/zaptest"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/testinfra"
)

func publishN(t *testing.T, url string, n int, body func(i int) []byte) {
	t.Helper()
	sess, err := broker.Dial(url, "test-publisher")
	testinfra.Must(t, err, "dial")
	defer sess.Close()
	ctx := context.Background()
	for i := range n {
		testinfra.Must(t, sess.Publish(ctx, "", broker.WorkQueue, amqp.Publishing{Body: body(i), DeliveryMode: amqp.Persistent}), "publish")
	}
}

func queueState(t *testing.T, url, q string) (ready, consumers int) {
	t.Helper()
	conn, err := amqp.Dial(url)
	testinfra.Must(t, err, "dial")
	defer conn.Close()
	ch, err := conn.Channel()
	testinfra.Must(t, err, "channel")
	st, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
	testinfra.Must(t, err, "inspect")
	return st.Messages, st.Consumers
}

// TestPauseReturnsUnstartedAndResumes: closing the gate stops the flow,
// returns the prefetched deliveries nobody started (without dead-lettering
// them or counting an attempt), lets the running handler finish and settle
// on its still-open channel, and reports not consuming; opening it again
// resumes, and every message is handled exactly once.
func TestPauseReturnsUnstartedAndResumes(t *testing.T) {
	t.Parallel()
	url, _ := declaredVHost(t, "1s")
	const n = 10
	publishN(t, url, n, func(i int) []byte { return fmt.Appendf(nil, "m%d", i) })

	gate := broker.NewGate(nil)
	var returned atomic.Int32
	cons, err := broker.NewConsumer(broker.ConsumerConfig{URL: url, Queue: broker.WorkQueue, Prefetch: n, Concurrency: 1,
		DeliveryLimit: 20, Gate: gate, Logger: zaptest.NewLogger(t), OnReturn: func() { returned.Add(1) }})
	testinfra.Must(t, err, "consumer")
	firstStarted := make(chan struct{})
	unblock := make(chan struct{})
	var mu sync.Mutex
	seen := map[string]int{}
	var once sync.Once
	h := func(_ context.Context, d *broker.Delivery) {
		once.Do(func() { close(firstStarted); <-unblock })
		mu.Lock()
		seen[string(d.Body)]++
		mu.Unlock()
		if err := d.Ack(false); err != nil {
			t.Errorf("ack %s: %v", d.Body, err)
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	runDone := make(chan error, 1)
	go func() { runDone <- cons.Run(ctx, h) }()

	<-firstStarted
	testinfra.Eventually(t, 10*time.Second, "all prefetched", func() (bool, error) {
		ready, _ := queueState(t, url, broker.WorkQueue)
		return ready == 0, nil
	})
	gate.Pause(errors.New("test outage"))
	testinfra.Eventually(t, 10*time.Second, "the nine unstarted returned", func() (bool, error) {
		return returned.Load() >= n-1, nil
	})
	if cons.Consuming() {
		t.Errorf("Consuming() = true while paused, want false")
	}
	testinfra.Eventually(t, 10*time.Second, "nine messages ready again", func() (bool, error) {
		ready, _ := queueState(t, url, broker.WorkQueue)
		return ready == n-1, fmt.Errorf("ready %d", ready)
	})
	close(unblock) // the running one settles on its channel
	testinfra.Eventually(t, 10*time.Second, "the consumer to go", func() (bool, error) {
		_, consumers := queueState(t, url, broker.WorkQueue)
		return consumers == 0, nil
	})
	gate.Resume()
	testinfra.Eventually(t, 20*time.Second, "every message handled", func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == n, fmt.Errorf("seen %d", len(seen))
	})
	stop()
	testinfra.Must(t, <-runDone, "run")
	for body, k := range seen {
		if k != 1 {
			t.Errorf("%s handled %d times, want 1", body, k)
		}
	}
	if got := returned.Load(); got != n-1 {
		t.Errorf("returned %d deliveries, want %d: the cancel goes first, so nothing returned comes back to a stopping consumer", got, n-1)
	}
	if ready, _ := queueState(t, url, broker.DeadLetterQueue); ready != 0 {
		t.Errorf("DLQ holds %d, want 0", ready)
	}
}

// TestReturnNeverReachesTheDeliveryLimit returns one delivery sixty times
// on a queue whose delivery limit is 20: it is never dead-lettered. On
// RabbitMQ before 4.3 every nack counts toward the limit (so Return
// republishes once half of it is used); from 4.3 a nack does not count.
func TestReturnNeverReachesTheDeliveryLimit(t *testing.T) {
	t.Parallel()
	url, topo := declaredVHost(t, "1s")
	publishN(t, url, 1, func(int) []byte { return []byte("again") })
	var counts []int
	var mu sync.Mutex
	cons, err := broker.NewConsumer(broker.ConsumerConfig{URL: url, Queue: broker.WorkQueue, Prefetch: 1, Concurrency: 1,
		DeliveryLimit: topo.DeliveryLimit, Logger: zaptest.NewLogger(t)})
	testinfra.Must(t, err, "consumer")
	done := make(chan struct{})
	h := func(_ context.Context, d *broker.Delivery) {
		mu.Lock()
		counts = append(counts, broker.HeaderInt(d.Headers, "x-delivery-count"))
		k := len(counts)
		mu.Unlock()
		if k > 60 {
			_ = d.Ack(false)
			close(done)
			return
		}
		testinfra.Must(t, d.Return(), "return")
	}
	ctx, stop := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- cons.Run(ctx, h) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the delivery stopped coming back after %d deliveries (dead-lettered?)", len(counts))
	}
	stop()
	testinfra.Must(t, <-runDone, "run")
	maxCount := 0
	for _, c := range counts {
		maxCount = max(maxCount, c)
	}
	t.Logf("x-delivery-count over 61 deliveries: max %d (limit %d)", maxCount, topo.DeliveryLimit)
	if maxCount >= topo.DeliveryLimit {
		t.Errorf("x-delivery-count reached %d, want below the limit %d", maxCount, topo.DeliveryLimit)
	}
	if ready, _ := queueState(t, url, broker.DeadLetterQueue); ready != 0 {
		t.Errorf("DLQ holds %d, want 0", ready)
	}
}

// TestPrefetchBytesBoundsWhatIsHeld: with 30 messages of 512 KiB queued, a
// prefetch of 30, one slow handler and a 2 MiB budget, the consumer never
// holds more than the budget plus one message, and it still consumes
// everything. Then 5 messages of 2 MiB: over 1 MiB, they are held one at a
// time.
func TestPrefetchBytesBoundsWhatIsHeld(t *testing.T) {
	t.Parallel()
	url, _ := declaredVHost(t, "1s")
	const n, size, budget, large, nLarge = 30, 512 << 10, 2 << 20, 2 << 20, 5
	publishN(t, url, n, func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, size) })
	cons, err := broker.NewConsumer(broker.ConsumerConfig{URL: url, Queue: broker.WorkQueue, Prefetch: n, Concurrency: 1,
		PrefetchBytes: budget, Logger: zaptest.NewLogger(t)})
	testinfra.Must(t, err, "consumer")
	var mu sync.Mutex
	maxHeld, maxHeldLarge := int64(0), int64(0)
	handled := 0
	allDone := make(chan struct{})
	h := func(_ context.Context, d *broker.Delivery) {
		time.Sleep(50 * time.Millisecond) // a slow task, so deliveries pile up
		mu.Lock()
		if len(d.Body) == large {
			maxHeldLarge = max(maxHeldLarge, cons.HeldBytes())
		} else {
			maxHeld = max(maxHeld, cons.HeldBytes())
		}
		handled++
		if handled == n+nLarge {
			close(allDone)
		}
		mu.Unlock()
		_ = d.Ack(false)
	}
	ctx, stop := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- cons.Run(ctx, h) }()
	testinfra.Eventually(t, 30*time.Second, "the small ones handled", func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return handled == n, nil
	})
	publishN(t, url, nLarge, func(int) []byte { return bytes.Repeat([]byte{'L'}, large) })
	select {
	case <-allDone:
	case <-time.After(60 * time.Second):
		t.Fatalf("handled %d of %d", handled, n+nLarge)
	}
	stop()
	testinfra.Must(t, <-runDone, "run")
	t.Logf("most bytes held: %.2f MiB of small messages (budget %d MiB), %.2f MiB of large ones",
		float64(maxHeld)/(1<<20), budget>>20, float64(maxHeldLarge)/(1<<20))
	if limit := int64(budget + size + 64<<10); maxHeld > limit {
		t.Errorf("held %d bytes, want at most the budget plus one message (%d)", maxHeld, limit)
	}
	if limit := int64(large + 64<<10); maxHeldLarge > limit {
		t.Errorf("held %d bytes of large messages, want one at a time (%d)", maxHeldLarge, limit)
	}
}
