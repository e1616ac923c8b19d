package enrichctl

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/testinfra"
)

func (s *stack) status(env map[string]string, args ...string) statusReport {
	s.t.Helper()
	out, errOut, err := s.run(env, append([]string{"status", "--json"}, args...)...)
	testinfra.Must(s.t, err, "status: "+errOut)
	var r statusReport
	testinfra.Must(s.t, json.Unmarshal([]byte(out), &r), "decode status")
	return r
}

// queueFigures is what a test compares of one queue.
type queueFigures struct {
	Name             string
	Ready, Consumers int64
	Unacked          string
}

func figures(qs []queueStatus) []queueFigures {
	out := make([]queueFigures, 0, len(qs))
	for _, q := range qs {
		u := "unknown"
		if q.Unacked != nil {
			u = fmt.Sprint(*q.Unacked)
		}
		out = append(out, queueFigures{q.Name, q.Ready, q.Consumers, u})
	}
	return out
}

func TestStatusMatchesBrokerAndDatabase(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	s.exec(`INSERT INTO tracks (id, artist, title, spotify_id) VALUES
		('s1', 'A', 'T1', '4uLU6hMCjMI75M1A2tKUQC'), ('s2', 'A', 'T2', '6rqhFgbbKwnb9MLmUQDhG6'),
		('s3', 'A', 'T3', NULL), ('s4', 'A', 'T4', NULL), ('s5', 'A', 'T5', NULL)`)
	s.exec(`UPDATE tracks SET created_at = now() - interval '2 hours' WHERE id = 's5'`)
	s.exec(`INSERT INTO enrichment_status (track_id, status, sources, confidence) VALUES
		('s1', 'completed', '{spotify}', 0.9), ('s2', 'completed', '{spotify,musicbrainz}', 0.8),
		('s3', 'not_found', '{}', 0)`)
	for i := range 7 {
		testinfra.Must(t, s.sess.Publish(ctx, broker.Exchange, broker.RoutingKey, amqp.Publishing{
			ContentType: "application/json", DeliveryMode: amqp.Persistent,
			Body: fmt.Appendf(nil, `{"track_id":"q%d","artist":"A","title":"T"}`, i),
		}), "publish")
	}
	s.deadLetter("d1", workerHeaders(broker.ReasonExhausted, 3, time.Now(), nil))
	s.deadLetter("d2", workerHeaders(broker.ReasonExhausted, 3, time.Now(), nil))
	s.deadLetter("d3", workerHeaders(broker.ReasonInvalid, 1, time.Now(), nil))
	// A consumer holding two unacked deliveries.
	ch, err := s.sess.Connection().Channel()
	testinfra.Must(t, err, "channel")
	defer ch.Close()
	testinfra.Must(t, ch.Qos(2, 0, false), "qos")
	ds, err := ch.Consume(broker.WorkQueue, "", false, false, false, false, nil)
	testinfra.Must(t, err, "consume")
	for range 2 {
		select {
		case <-ds:
		case <-time.After(10 * time.Second):
			t.Fatal("no delivery")
		}
	}
	// The broker's own figures (ready through passive declares).
	expect := func(unacked func(q string) string) []queueFigures {
		var out []queueFigures
		for _, q := range s.topo.Queues() {
			f := queueFigures{Name: q, Ready: int64(s.depth(q)), Unacked: unacked(q)}
			if q == broker.WorkQueue {
				f.Consumers = 1
			}
			out = append(out, f)
		}
		return out
	}
	want := expect(func(q string) string {
		if q == broker.WorkQueue {
			return "2"
		}
		return "0"
	})
	if got := [2]int{s.depth(broker.WorkQueue), s.depth(broker.DeadLetterQueue)}; got != [2]int{5, 3} {
		t.Fatalf("setup: work queue and DLQ hold %v ready, want [5 3]", got)
	}

	// The management API publishes queue figures every statistics interval
	// (5 s by default): wait until it shows the state set up above. Without
	// reading the DLQ meanwhile, which would hold its messages for a moment.
	testinfra.Eventually(t, 20*time.Second, "status to show the broker's figures", func() (bool, error) {
		r := s.status(nil, "--dlq-sample", "0", "--no-refresh")
		diff := cmp.Diff(want, figures(r.Queues))
		return diff == "", fmt.Errorf("queues (-want +got):\n%s", diff)
	})
	r := s.status(nil)
	if diff := cmp.Diff(want, figures(r.Queues)); diff != "" {
		t.Errorf("queues (-want +got):\n%s", diff)
	}
	if r.BrokerSource != sourceAPI || r.BrokerWarning != "" || len(r.Errors) > 0 {
		t.Errorf("source %q, warning %q, errors %v; want the management API, no warning, no errors", r.BrokerSource, r.BrokerWarning, r.Errors)
	}
	wantDLQ := &dlqStatus{Messages: 3, Sampled: 3, SampleComplete: true, Reasons: []reasonCount{
		{broker.ReasonExhausted, 2}, {broker.ReasonInvalid, 1}}}
	if diff := cmp.Diff(wantDLQ, r.DLQ); diff != "" {
		t.Errorf("dlq (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int64{"completed": 2, "partial": 0, "not_found": 1, "failed": 0}, r.Statuses); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	c := r.Coverage
	if !r.CoverageRefreshed || c == nil || c.TotalTracks != 5 || c.WithStatus != 3 || c.MatchedSpotify != 2 ||
		c.MatchedMusicBrainz != 1 || c.WithSpotifyID != 2 || c.PctWithStatus == nil || *c.PctWithStatus != 60 {
		t.Errorf("coverage (refreshed %v) = %+v; want 5 tracks, 3 with status (60%%), 2 matched by spotify, 1 by musicbrainz", r.CoverageRefreshed, c)
	}
	if p := r.OldestPending; p == nil || p.Source != "track_without_status" || p.TrackID != "s5" || p.AgeSeconds < 7100 {
		t.Errorf("oldest pending = %+v, want track s5, about 2h old", p)
	}
	// Reading the DLQ for reasons left it as it was.
	s.waitDepth(broker.DeadLetterQueue, 3)

	t.Run("without the management API", func(t *testing.T) {
		r := s.status(map[string]string{"RABBITMQ_API_URL": "http://guest:guest@127.0.0.1:1"})
		want := expect(func(string) string { return "unknown" })
		if diff := cmp.Diff(want, figures(r.Queues)); diff != "" {
			t.Errorf("queues from passive declares (-want +got):\n%s", diff)
		}
		if r.BrokerSource != sourcePassive || !strings.Contains(r.BrokerWarning, "management API unavailable") {
			t.Errorf("source %q, warning %q; want passive_declare and a warning", r.BrokerSource, r.BrokerWarning)
		}
	})
	t.Run("table", func(t *testing.T) {
		out, _, err := s.run(nil, "status", "--no-refresh")
		testinfra.Must(t, err, "status")
		t.Logf("enrichctl status:\n%s", out)
		for _, want := range []string{broker.WorkQueue, "retries_exhausted", "completed", "COVERAGE (as last refreshed",
			"matched by spotify", `oldest pending: track "s5"`} {
			if !strings.Contains(out, want) {
				t.Errorf("status table lacks %q:\n%s", want, out)
			}
		}
	})
}
