package worker_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/metrics"
	"github.com/djmeta/enrichment/internal/store"
	"github.com/djmeta/enrichment/internal/task"
	"github.com/djmeta/enrichment/internal/testinfra"
	"github.com/djmeta/enrichment/internal/worker"
)

// settlements records how a delivery was settled (it is the delivery's
// acknowledger: the channel, for a delivery that never crossed one).
type settlements struct {
	mu                   sync.Mutex
	acks, nacks, rejects int
}

func (s *settlements) Ack(uint64, bool) error { s.mu.Lock(); s.acks++; s.mu.Unlock(); return nil }
func (s *settlements) Nack(uint64, bool, bool) error {
	s.mu.Lock()
	s.nacks++
	s.mu.Unlock()
	return nil
}
func (s *settlements) Reject(uint64, bool) error { s.mu.Lock(); s.rejects++; s.mu.Unlock(); return nil }

// byMode fails or succeeds as the fuzzer says.
type byMode struct{ mode uint8 }

func (p byMode) Enrich(context.Context, task.Task) (enrich.Result, error) {
	switch p.mode % 5 {
	case 1:
		return enrich.Result{}, errors.New("provider unavailable")
	case 2:
		return enrich.Result{}, enrich.Permanent(errors.New("bad request"))
	case 3:
		return enrich.Result{}, enrich.RetryAfter(3*time.Second, errors.New("429"))
	case 4:
		return enrich.Result{Status: enrich.StatusCompleted, Sources: []string{"spotify"}, Confidence: 0.9,
			SpotifyID: "4uLU6hMCjMI75M1A2tKUQC"}, nil
	}
	return enrich.Result{Status: enrich.StatusNotFound}, nil
}

// headerValue turns fuzz input into an AMQP header value of any type.
func headerValue(kind uint8, i int64, f float64, s string) any {
	switch kind % 9 {
	case 0:
		return nil
	case 1:
		return i
	case 2:
		return int32(i)
	case 3:
		return int8(i)
	case 4:
		return uint32(i)
	case 5:
		return f
	case 6:
		return s
	case 7:
		return amqp.Table{"nested": s}
	default:
		return []any{i, s}
	}
}

// FuzzHandle drives the worker's handler with arbitrary bodies, content
// types and attempt, throttled and first-failure headers, against a real
// Postgres and broker: it never panics (not even one it recovers), and
// settles every delivery exactly once. make test runs its seed corpus.
func FuzzHandle(f *testing.F) {
	dbURL := testinfra.MigratedDatabase(f)
	amqpURL := testinfra.VHost(f)
	delays, err := config.ParseRetryDelays("1m,2m")
	testinfra.Must(f, err, "delays")
	topo := broker.NewTopology(delays, 20)
	testinfra.Must(f, topo.DeclareWithRetry(context.Background(), amqpURL, 5*time.Second, zap.NewNop()), "declare")
	st, err := store.Open(context.Background(), dbURL, 4)
	testinfra.Must(f, err, "store")
	f.Cleanup(st.Close)
	sess, err := broker.Dial(amqpURL, "fuzz")
	testinfra.Must(f, err, "dial")
	f.Cleanup(func() { _ = sess.Close() })

	valid := []byte(`{"track_id":"t1","artist":"Bicep","title":"Glue"}`)
	for _, h := range []struct {
		kind uint8
		i    int64
		f    float64
		s    string
	}{{1, -1, 0, ""}, {2, -2, 0, ""}, {1, 1 << 31, 0, ""}, {6, 0, 0, "abc"}, {5, 0, 1e30, ""},
		{1, math.MaxInt64, 0, ""}, {1, math.MinInt64, 0, ""}, {5, 0, math.Inf(-1), ""}, {5, 0, 2.5, ""},
		{7, 0, 0, "x"}, {8, 3, 0, "y"}, {1, 2, 0, ""}, {1, 3, 0, ""}, {0, 0, 0, ""}} {
		for mode := range uint8(5) {
			f.Add(valid, "application/json", mode, h.kind, h.i, h.f, h.s)
		}
	}
	f.Add([]byte(`{"track_id":"a\u001b","artist":"x","title":"y"}`), "", uint8(0), uint8(1), int64(-1), 0.0, "")
	f.Add([]byte(`{"track_id":"a","artist":"\u202ex","title":"y\u2028"}`), "", uint8(4), uint8(0), int64(0), 0.0, "")
	f.Add([]byte(`{"track_id":"a","artist":"x","title":"y","title":"z"}`), "", uint8(0), uint8(0), int64(0), 0.0, "")
	f.Add([]byte("\xff\xfe"), "text/plain", uint8(0), uint8(6), int64(0), 0.0, "9")
	f.Add([]byte(`{"track_id":"t1","artist":"A","title":"B","priority":1e30,"duration_ms":-1}`), "", uint8(0), uint8(0), int64(0), 0.0, "")

	f.Fuzz(func(t *testing.T, body []byte, ctype string, mode, kind uint8, i int64, fl float64, s string) {
		m := metrics.NewWorker("fuzz")
		w, err := worker.New(worker.Config{Topology: topo, PublishTimeout: 5 * time.Second}, byMode{mode}, st, m, zap.NewNop())
		testinfra.Must(t, err, "worker")
		hdr := amqp.Table{}
		if v := headerValue(kind, i, fl, s); v != nil {
			hdr[broker.HeaderAttempts] = v
			hdr["x-enrichment-throttled"] = v
			hdr[broker.HeaderFirstFailure] = v
		}
		rec := &settlements{}
		d := &broker.Delivery{Delivery: amqp.Delivery{Acknowledger: rec, DeliveryTag: 1, Headers: hdr, Body: body,
			ContentType: ctype}, Session: sess, Queue: broker.WorkQueue}
		w.Handle(context.Background(), d)
		if p := testutil.ToFloat64(m.Panics); p != 0 {
			t.Fatalf("the handler panicked (%v recovered)", p)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if n := rec.acks + rec.nacks + rec.rejects; n != 1 {
			t.Fatalf("settled %d times (acks %d, nacks %d, rejects %d), want exactly once", n, rec.acks, rec.nacks, rec.rejects)
		}
	})
}
