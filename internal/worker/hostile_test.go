package worker_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/task"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// forgedHeaders are attempt-header values a hostile or broken publisher
// may send; the list and a few more.
var forgedHeaders = []struct {
	name string
	v    any
}{
	{"minus one", int64(-1)},
	{"minus two", int32(-2)},
	{"2^31", int64(1) << 31},
	{"abc", "abc"},
	{"1e30", 1e30},
	{"max int64", int64(math.MaxInt64)},
	// (A NaN float header is refused by the broker itself: it closes the
	// publisher's channel.)
	{"table", amqp.Table{"x": int32(1)}},
}

// TestForgedHeadersNeverCrash publishes tasks whose attempt and throttled
// headers are forged, to a pipeline that fails each task once (so the
// header is used to pick the retry tier): every task completes, nothing
// panics and the worker keeps running.
func TestForgedHeadersNeverCrash(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	f := &flaky{calls: map[string]int{}, failures: 1, err: errors.New("provider unavailable")}
	rw := b.startWorker(f)
	for i, h := range forgedHeaders {
		for j, key := range []string{broker.HeaderAttempts, "x-enrichment-throttled", broker.HeaderFirstFailure} {
			b.publishRaw(fmt.Sprintf(`{"track_id":"f%d-%d","artist":"Bicep","title":"Glue"}`, i, j), amqp.Publishing{
				ContentType: "application/json", MessageId: h.name, Headers: amqp.Table{key: h.v}})
		}
	}
	want := 3 * len(forgedHeaders)
	b.waitStatusRows(want, 30*time.Second)
	if got := b.count(`SELECT count(*) FROM enrichment_status WHERE status = 'completed' AND attempts = 2`); got != want {
		t.Errorf("completed at attempt 2 = %d, want %d (forged headers read as absent)", got, want)
	}
	if got := metric(rw.addr, "enrichment_handler_panics_total"); got != 0 {
		t.Errorf("enrichment_handler_panics_total = %v, want 0", got)
	}
	select {
	case err := <-rw.done:
		t.Fatalf("the worker exited: %v", err)
	default:
	}
	if got := b.queueDepth(broker.DeadLetterQueue); got != 0 {
		t.Errorf("DLQ holds %d, want 0", got)
	}
}

// panicky panics on the tracks it is told to, once each.
type panicky struct {
	mu   sync.Mutex
	seen map[string]int
}

func (p *panicky) Enrich(_ context.Context, t task.Task) (enrich.Result, error) {
	p.mu.Lock()
	p.seen[t.TrackID]++
	n := p.seen[t.TrackID]
	p.mu.Unlock()
	if strings.HasPrefix(t.TrackID, "boom") && (n == 1 || t.TrackID == "boom-always") {
		panic(fmt.Sprintf("a bug while enriching %s", t.TrackID))
	}
	return enrich.Result{Status: enrich.StatusNotFound}, nil
}

// TestPanicIsRecovered: a panic in our processing is recovered, the task is
// retried (spending an attempt, so one that always panics ends in the DLQ
// as retries_exhausted), and the worker keeps consuming.
func TestPanicIsRecovered(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rw := b.startWorker(&panicky{seen: map[string]int{}})
	b.publishTask("boom-once", "Bicep", "Glue")
	b.publishTask("boom-always", "Bicep", "Glue")
	b.publishTask("fine", "Bicep", "Glue")
	testinfra.Eventually(t, 30*time.Second, "boom-always in the DLQ", func() (bool, error) {
		return b.queueDepth(broker.DeadLetterQueue) == 1, nil
	})
	b.waitStatusRows(3, 30*time.Second)
	d := b.drainDLQ()[0]
	if r := d.Headers[broker.HeaderReason]; r != broker.ReasonExhausted {
		t.Errorf("dead letter reason = %v, want %s", r, broker.ReasonExhausted)
	}
	if e, _ := d.Headers[broker.HeaderError].(string); !strings.Contains(e, "panic") {
		t.Errorf("dead letter error = %q, want the panic", e)
	}
	if got := b.count(`SELECT count(*) FROM enrichment_status WHERE track_id = 'boom-once' AND attempts = 2 AND status = 'not_found'`); got != 1 {
		t.Errorf("boom-once: want one not_found row at attempt 2")
	}
	if got := metric(rw.addr, "enrichment_handler_panics_total"); got != 4 {
		t.Errorf("enrichment_handler_panics_total = %v, want 4 (once, then three times)", got)
	}
}

// hostileChars are the characters of the issue: ESC, BEL, CR LF, U+202E
// (right-to-left override), U+2028 (line separator), and more of the kind.
const hostileChars = "\x1b[2J\x1b]0;owned\x07\r\n\u202e\u2028\u2029\u2066\x00\x7f\u0085\u009b"

// TestHostileTextNeverReachesPostgres: a track_id with control or format
// characters is dead-lettered as invalid_message; an artist or title with
// them is stored cleaned; no row holds one, and the reason headers the
// worker adds hold none either.
func TestHostileTextNeverReachesPostgres(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rw := b.startWorker(nil)
	js := func(s string) string {
		var sb strings.Builder
		for _, r := range s {
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&sb, `\u%04x`, r)
				continue
			}
			sb.WriteRune(r)
		}
		return sb.String()
	}
	b.publishRaw(`{"track_id":"id`+js(hostileChars)+`","artist":"Bicep","title":"Glue"}`, amqp.Publishing{ContentType: "application/json"})
	b.publishRaw(`{"track_id":"h1","artist":"Bi`+js(hostileChars)+`cep","title":"Gl`+js(hostileChars)+`ue"}`, amqp.Publishing{ContentType: "application/json"})
	b.publishRaw(`{"track_id":"h2","artist":"A","title":"B","title":"C"}`, amqp.Publishing{ContentType: "application/json"})
	b.waitStatusRows(1, 30*time.Second)
	testinfra.Eventually(t, 30*time.Second, "two dead letters", func() (bool, error) {
		return b.queueDepth(broker.DeadLetterQueue) == 2, nil
	})
	const bad = `[\x01-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff]`
	if got := b.count(`SELECT count(*) FROM tracks WHERE id ~ $1 OR artist ~ $1 OR title ~ $1`, bad); got != 0 {
		t.Errorf("%d tracks rows hold control or format characters, want 0", got)
	}
	var artist, title string
	testinfra.Must(t, b.pool.QueryRow(context.Background(), `SELECT artist, title FROM tracks WHERE id = 'h1'`).Scan(&artist, &title), "read h1")
	if !strings.HasPrefix(artist, "Bi") || !strings.HasSuffix(artist, "cep") || !strings.HasPrefix(title, "Gl") {
		t.Errorf("h1 stored as %q, %q; want the names with the characters stripped", artist, title)
	}
	for _, d := range b.drainDLQ() {
		if d.Headers[broker.HeaderReason] != broker.ReasonInvalid {
			t.Errorf("dead letter %s: reason %v, want %s", d.Body, d.Headers[broker.HeaderReason], broker.ReasonInvalid)
		}
		e, _ := d.Headers[broker.HeaderError].(string)
		if strings.ContainsAny(e, "\x1b\x07\r\n\u202e\u2028") {
			t.Errorf("error header %q carries a hostile character", e)
		}
	}
	for _, f := range []string{"artist", "title"} {
		if got := metric(rw.addr, `enrichment_text_cleaned_total{field="`+f+`"}`); got != 1 {
			t.Errorf("enrichment_text_cleaned_total{field=%q} = %v, want 1", f, got)
		}
	}
}
