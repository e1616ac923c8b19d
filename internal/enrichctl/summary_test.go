package enrichctl

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// TestSummaryAfterTheFact runs summary long after a run: it reports only
// the file's tracks, finds the file's dead-lettered one, and shows no
// throughput since it timed nothing.
func TestSummaryAfterTheFact(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.exec(`INSERT INTO tracks (id, artist, title) VALUES ('f1','A','T'), ('f2','A','T'), ('f3','A','T'), ('other','A','T')`)
	s.exec(`INSERT INTO enrichment_status (track_id, status, sources, confidence) VALUES
		('f1', 'completed', '{spotify,musicbrainz}', 0.9), ('f2', 'not_found', '{}', 0),
		('other', 'completed', '{discogs}', 0.9)`)
	s.deadLetter("f4", workerHeaders(broker.ReasonExhausted, 3, time.Now(), nil))
	s.deadLetter("not-in-file", workerHeaders(broker.ReasonInvalid, 1, time.Now(), nil))
	s.waitDepth(broker.DeadLetterQueue, 2)
	file := filepath.Join(t.TempDir(), "set.jsonl")
	lines := []string{`{"track_id":"f1","artist":"A","title":"T"}`, `{"track_id":"f2","artist":"A","title":"T"}`,
		`{"track_id":"f3","artist":"A","title":"T"}`, `{"track_id":"f4","artist":"A","title":"T"}`,
		`{"track_id":"f1","artist":"A","title":"T again"}`, `{"track_id":"bad"}`}
	testinfra.Must(t, os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600), "write")

	// Workers that finished long ago.
	var scrapes atomic.Int32
	metrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		scrapes.Add(1)
		fmt.Fprintln(w, `enrichment_tasks_total{outcome="completed"} 3`)
		fmt.Fprintln(w, `enrichment_tasks_total{outcome="not_found"} 1`)
		fmt.Fprintln(w, `enrichment_tasks_total{outcome="failed"} 1`)
		fmt.Fprintln(w, `enrichment_cache_requests_total{provider="spotify",result="hit"} 3`)
		fmt.Fprintln(w, `enrichment_cache_requests_total{provider="spotify",result="miss"} 1`)
	}))
	defer metrics.Close()

	out, errOut, code := s.runIn(nil, nil, "summary", "--file", file, "--metrics", metrics.URL, "-o", "json")
	if code != 0 {
		t.Fatalf("summary: exit %d: %s", code, errOut)
	}
	var r summaryReport
	testinfra.Must(t, json.Unmarshal([]byte(out), &r), "decode")
	without := 2
	want := summaryReport{File: file, Tracks: 4, InvalidRecords: 1, WithStatus: 2, WithoutStatus: &without,
		Statuses:  map[string]int{"completed": 1, "not_found": 1},
		MatchedBy: map[string]int{"spotify": 1, "musicbrainz": 1},
		DLQ:       &summaryDLQ{Messages: 1, Reasons: map[string]int{broker.ReasonExhausted: 1}, Read: 2, Depth: 2, SampleComplete: true},
	}
	if r.Workers == nil || r.Workers.Settled != 5 || r.Workers.CacheHitRate == nil || *r.Workers.CacheHitRate != 0.75 {
		t.Errorf("workers %+v, want 5 settled and a 75%% hit rate", r.Workers)
	}
	if r.Throughput != nil {
		t.Errorf("throughput %+v; summary timed nothing (the tasks had settled), want none", r.Throughput)
	}
	r.Workers = nil
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	out, _, _ = s.runIn(nil, nil, "summary", "--file", file, "--metrics", metrics.URL)
	if !strings.Contains(out, "throughput") || !strings.Contains(out, "not measured") || strings.Contains(out, "tasks/s") {
		t.Errorf("table: want throughput not measured:\n%s", out)
	}
	t.Logf("summary after the fact:\n%s", out)

	t.Run("a run it waited for is timed", func(t *testing.T) {
		var n atomic.Int32
		running := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "enrichment_tasks_total{outcome=\"completed\"} %d\n", min(n.Add(1), 5))
		}))
		defer running.Close()
		out, errOut, code := s.runIn(nil, nil, "summary", "--expect", "5", "--metrics", running.URL, "-o", "json")
		var r summaryReport
		testinfra.Must(t, json.Unmarshal([]byte(out), &r), "decode "+errOut)
		if code != 0 || r.Throughput == nil || r.Throughput.Tasks != 4 || r.Throughput.Seconds <= 0 {
			t.Errorf("exit %d, throughput %+v; want 4 tasks settled while it waited", code, r.Throughput)
		}
	})
}
