package broker_test

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap/zaptest"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/testinfra"
)

func TestQueueInitIdempotentAndAddsTiers(t *testing.T) {
	t.Parallel()
	url := testinfra.VHost(t)
	log := zaptest.NewLogger(t)
	ctx := context.Background()
	delays, err := config.ParseRetryDelays("2s,4s,8s")
	testinfra.Must(t, err, "parse delays")
	topo := broker.NewTopology(delays, 20)
	testinfra.Must(t, topo.DeclareWithRetry(ctx, url, 5*time.Second, log), "first declare")
	testinfra.Must(t, topo.DeclareWithRetry(ctx, url, 5*time.Second, log), "second declare")

	more, err := config.ParseRetryDelays("500ms,2s,4s,8s,1m")
	testinfra.Must(t, err, "parse delays")
	grown := broker.NewTopology(more, 20)
	testinfra.Must(t, grown.DeclareWithRetry(ctx, url, 5*time.Second, log), "declare with added tiers")

	conn, err := amqp.Dial(url)
	testinfra.Must(t, err, "dial")
	defer conn.Close()
	for _, q := range []string{"metadata_enrichment_queue", "metadata_enrichment_retry_500ms", "metadata_enrichment_retry_2s",
		"metadata_enrichment_retry_1m", "metadata_enrichment_dlq"} {
		ch, err := conn.Channel()
		testinfra.Must(t, err, "channel")
		if _, err := ch.QueueDeclarePassive(q, true, false, false, false, nil); err != nil {
			t.Errorf("queue %s missing after queue-init: %v", q, err)
		}
		_ = ch.Close()
	}
}

func TestPublishToMissingQueueIsReturned(t *testing.T) {
	t.Parallel()
	url := testinfra.VHost(t)
	sess, err := broker.Dial(url, "test")
	testinfra.Must(t, err, "dial")
	defer sess.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = sess.Publish(ctx, "", "no_such_queue", amqp.Publishing{Body: []byte("x")})
	if err != broker.ErrReturned {
		t.Errorf("publish to a missing queue = %v, want ErrReturned", err)
	}
}

// declaredVHost returns a new test vhost with the topology of the given
// RETRY_DELAYS declared in it.
func declaredVHost(t *testing.T, retryDelays string) (string, broker.Topology) {
	t.Helper()
	url := testinfra.VHost(t)
	delays, err := config.ParseRetryDelays(retryDelays)
	testinfra.Must(t, err, "parse delays")
	topo := broker.NewTopology(delays, 20)
	testinfra.Must(t, topo.DeclareWithRetry(context.Background(), url, 5*time.Second, zaptest.NewLogger(t)), "declare")
	return url, topo
}

func TestRetryTierRoundTrip(t *testing.T) {
	t.Parallel()
	url, topo := declaredVHost(t, "100ms")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sess, err := broker.Dial(url, "test")
	testinfra.Must(t, err, "dial")
	defer sess.Close()
	sent := time.Now()
	testinfra.Must(t, sess.Publish(ctx, "", topo.Tiers[0].Queue, amqp.Publishing{Body: []byte("retry me"), DeliveryMode: amqp.Persistent}), "publish to tier")
	ch, err := sess.Connection().Channel()
	testinfra.Must(t, err, "channel")
	ds, err := ch.Consume(broker.WorkQueue, "", true, false, false, false, nil)
	testinfra.Must(t, err, "consume")
	select {
	case d := <-ds:
		if string(d.Body) != "retry me" {
			t.Errorf("body = %q, want %q", d.Body, "retry me")
		}
		if waited := time.Since(sent); waited < 100*time.Millisecond {
			t.Errorf("message came back after %s, want at least the tier's 100ms", waited)
		}
	case <-ctx.Done():
		t.Fatal("message never came back from the retry tier to the work queue")
	}
}
