package enrichctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/config"
)

// Defaults of the dlq subcommands.
const (
	DLQListLimitDefault = 50
	dlqErrorColumnWidth = 80
)

// dlqMessage describes one dead-lettered message from its headers and body.
type dlqMessage struct {
	Reason   string `json:"reason"`
	Attempts int    `json:"attempts"`
	// FirstFailure is the x-enrichment-first-failure header, or for a
	// message the broker dead-lettered, the time of its x-death entry.
	FirstFailure *time.Time `json:"first_failure"`
	// Age is the time since FirstFailure (or since the message's own
	// timestamp when there is none); nil when unknown.
	AgeSeconds *float64 `json:"age_seconds"`
	TrackID    string   `json:"track_id"`
	Error      string   `json:"error"`
	// DeadLetteredBy is worker (x-enrichment-* headers) or broker (x-death).
	DeadLetteredBy string `json:"dead_lettered_by"`
	MessageID      string `json:"message_id,omitempty"`

	age    time.Duration
	hasAge bool
}

// describeDLQ reads what the worker or the broker recorded on a
// dead-lettered message.
func describeDLQ(d amqp.Delivery, now time.Time) dlqMessage {
	m := dlqMessage{MessageID: d.MessageId, Attempts: broker.HeaderInt(d.Headers, broker.HeaderAttempts)}
	death := firstDeath(d.Headers)
	if r, ok := d.Headers[broker.HeaderReason].(string); ok && r != "" {
		m.Reason, m.DeadLetteredBy = r, "worker"
		m.Error, _ = d.Headers[broker.HeaderError].(string)
	} else if death != nil {
		m.DeadLetteredBy = "broker"
		m.Reason, _ = death["reason"].(string)
		q, _ := death["queue"].(string)
		m.Error = fmt.Sprintf("dead-lettered by the broker from %s (%s)", q, m.Reason)
	}
	if m.Reason == "" {
		m.Reason = "unknown"
	}
	if m.Attempts == 0 {
		m.Attempts = broker.HeaderInt(d.Headers, "x-delivery-count")
	}
	var since time.Time
	if s, ok := d.Headers[broker.HeaderFirstFailure].(string); ok {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			since = t
		}
	}
	if since.IsZero() && death != nil {
		since, _ = death["time"].(time.Time)
	}
	if !since.IsZero() {
		t := since.UTC()
		m.FirstFailure = &t
	} else {
		since = d.Timestamp
	}
	if !since.IsZero() {
		m.age, m.hasAge = max(now.Sub(since), 0), true
		s := m.age.Seconds()
		m.AgeSeconds = &s
	}
	var body struct {
		TrackID json.RawMessage `json:"track_id"`
	}
	if json.Unmarshal(d.Body, &body) == nil {
		_ = json.Unmarshal(body.TrackID, &m.TrackID)
	}
	return m
}

func firstDeath(h amqp.Table) amqp.Table {
	deaths, _ := h["x-death"].([]any)
	if len(deaths) == 0 {
		return nil
	}
	t, _ := deaths[0].(amqp.Table)
	return t
}

// dlqFilter selects dead-lettered messages; zero fields select everything.
type dlqFilter struct {
	Reasons   map[string]bool
	OlderThan time.Duration // age strictly greater
	NewerThan time.Duration // age strictly smaller
}

// match reports whether m is selected. A message of unknown age never
// matches an age bound.
func (f dlqFilter) match(m dlqMessage) bool {
	if len(f.Reasons) > 0 && !f.Reasons[m.Reason] {
		return false
	}
	if (f.OlderThan > 0 || f.NewerThan > 0) && !m.hasAge {
		return false
	}
	if f.OlderThan > 0 && m.age <= f.OlderThan {
		return false
	}
	if f.NewerThan > 0 && m.age >= f.NewerThan {
		return false
	}
	return true
}

// isReplayDroppedHeader reports whether a replay removes header k so that
// the task starts over: the worker's attempt bookkeeping and the broker's
// dead-letter history.
func isReplayDroppedHeader(k string) bool {
	return strings.HasPrefix(k, "x-enrichment-") || k == "x-death" || k == "x-delivery-count" ||
		strings.HasPrefix(k, "x-first-death-") || strings.HasPrefix(k, "x-last-death-")
}

// replayPublishing is d as a fresh task: body and properties unchanged, the
// attempt headers removed.
func replayPublishing(d amqp.Delivery) amqp.Publishing {
	var hdr amqp.Table
	for k, v := range d.Headers {
		if isReplayDroppedHeader(k) {
			continue
		}
		if hdr == nil {
			hdr = amqp.Table{}
		}
		hdr[k] = v
	}
	return amqp.Publishing{
		Headers:         hdr,
		ContentType:     d.ContentType,
		ContentEncoding: d.ContentEncoding,
		DeliveryMode:    amqp.Persistent,
		Priority:        d.Priority,
		CorrelationId:   d.CorrelationId,
		MessageId:       d.MessageId,
		Timestamp:       d.Timestamp,
		Type:            d.Type,
		AppId:           d.AppId,
		Body:            d.Body,
	}
}

// dlqReader takes messages from the DLQ with basic.get on its own channel,
// without auto-ack. Messages it holds are invisible to other readers until
// acked or requeued; closing the channel requeues whatever is left.
type dlqReader struct {
	ch      *amqp.Channel
	held    uint64 // highest delivery tag held for requeueing, 0: none
	examine int    // messages in the DLQ when the reader opened
}

func openDLQ(conn *amqp.Connection) (*dlqReader, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	q, err := ch.QueueDeclarePassive(broker.DeadLetterQueue, true, false, false, false, nil)
	if err != nil {
		return nil, fmt.Errorf("inspect %s (run queue-init?): %w", broker.DeadLetterQueue, err)
	}
	return &dlqReader{ch: ch, examine: q.Messages}, nil
}

// next returns the next message, false when the queue is empty.
func (r *dlqReader) next() (amqp.Delivery, bool, error) {
	d, ok, err := r.ch.Get(broker.DeadLetterQueue, false)
	if err != nil {
		return amqp.Delivery{}, false, fmt.Errorf("get from %s: %w", broker.DeadLetterQueue, err)
	}
	return d, ok, nil
}

// hold keeps d to requeue it at the end, untouched.
func (r *dlqReader) hold(d amqp.Delivery) { r.held = max(r.held, d.DeliveryTag) }

// close requeues every held message and closes the channel. Every other
// delivery must already be acked or nacked.
func (r *dlqReader) close() error {
	var err error
	if r.held > 0 {
		if err = r.ch.Nack(r.held, true, true); err != nil {
			err = fmt.Errorf("requeue messages in %s: %w", broker.DeadLetterQueue, err)
		}
	}
	if cerr := r.ch.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close DLQ channel: %w", cerr)
	}
	return err
}

// sampleDLQ reads up to limit messages, describes them and requeues them
// all. It returns the queue's depth when the read began.
func sampleDLQ(conn *amqp.Connection, f dlqFilter, limit int) ([]dlqMessage, int, error) {
	r, err := openDLQ(conn)
	if err != nil {
		return nil, 0, err
	}
	now := time.Now()
	var out []dlqMessage
	var rerr error
	for i := 0; i < r.examine && (limit <= 0 || len(out) < limit); i++ {
		d, ok, err := r.next()
		if err != nil {
			rerr = err
			break
		}
		if !ok {
			break
		}
		r.hold(d)
		if m := describeDLQ(d, now); f.match(m) {
			out = append(out, m)
		}
	}
	if err := r.close(); err != nil && rerr == nil {
		rerr = err
	}
	return out, r.examine, rerr
}

// replayResult counts what a replay did.
type replayResult struct {
	Examined int // messages read from the DLQ
	Replayed int // republished with a confirm and removed from the DLQ
	Failed   int // not confirmed: left in the DLQ
	Left     int // not selected: left in the DLQ untouched
	Selected []dlqMessage
}

// replayDLQ republishes the selected messages to the work exchange (at most
// limit, 0: all) with confirms, acking each in the DLQ after its confirm;
// the others are requeued untouched at the end. It reads at most the
// messages in the DLQ when it starts, so a replayed task that fails again
// during the run is not replayed twice. With dryRun it only reports the
// selection.
func replayDLQ(ctx context.Context, sess *broker.Session, f dlqFilter, limit, window int, dryRun bool) (replayResult, error) {
	var res replayResult
	r, err := openDLQ(sess.Connection())
	if err != nil {
		return res, err
	}
	type inflight struct {
		tag uint64
		p   *broker.Pending
	}
	// Confirms of what was sent are awaited even after ctx is cancelled.
	settleCtx := context.WithoutCancel(ctx)
	var (
		pending []inflight
		failure error
	)
	settle := func() {
		in := pending[0]
		pending = pending[1:]
		wctx, cancel := context.WithTimeout(settleCtx, settleTimeout)
		err := in.p.Wait(wctx)
		cancel()
		if err != nil {
			res.Failed++
			if failure == nil {
				failure = fmt.Errorf("republish: %w", err)
			}
			if nerr := r.ch.Nack(in.tag, false, true); nerr != nil && failure == nil {
				failure = fmt.Errorf("requeue in %s: %w", broker.DeadLetterQueue, nerr)
			}
			return
		}
		if err := r.ch.Ack(in.tag, false); err != nil {
			// The task is in the work queue and stays in the DLQ: a duplicate.
			if failure == nil {
				failure = fmt.Errorf("ack in %s after republishing (the message is now in both queues): %w", broker.DeadLetterQueue, err)
			}
			return
		}
		res.Replayed++
	}
	now := time.Now()
	for res.Examined < r.examine && (limit <= 0 || len(res.Selected) < limit) {
		if ctx.Err() != nil || failure != nil {
			break
		}
		d, ok, err := r.next()
		if err != nil {
			failure = err
			break
		}
		if !ok {
			break
		}
		res.Examined++
		m := describeDLQ(d, now)
		if !f.match(m) || dryRun {
			r.hold(d)
			if dryRun && f.match(m) {
				res.Selected = append(res.Selected, m)
			} else {
				res.Left++
			}
			continue
		}
		if len(pending) >= window {
			settle()
		}
		p, err := sess.PublishAsync(ctx, broker.Exchange, broker.RoutingKey, replayPublishing(d))
		if err != nil {
			r.hold(d)
			res.Failed++
			failure = fmt.Errorf("republish: %w", err)
			break
		}
		res.Selected = append(res.Selected, m)
		pending = append(pending, inflight{tag: d.DeliveryTag, p: p})
	}
	for len(pending) > 0 {
		settle()
	}
	if err := r.close(); err != nil && failure == nil {
		failure = err
	}
	if failure == nil && ctx.Err() != nil {
		failure = fmt.Errorf("replay interrupted: %w", ctx.Err())
	}
	return res, failure
}

func dlq(ctx context.Context, cfg config.Common, args []string, e Env) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: dlq needs list, replay or purge", ErrUsage)
	}
	verb := args[0]
	fs := newFlags("dlq "+verb, e)
	amqpURL := fs.String("amqp-url", cfg.AMQPURL, "broker URL (AMQP_URL)")
	reasons := fs.String("reason", "", "list, replay: only these reasons (comma-separated)")
	olderThan := fs.String("older-than", "", "list, replay: only messages whose first failure is older than this (e.g. 1h, 2d)")
	newerThan := fs.String("newer-than", "", "list, replay: only messages whose first failure is newer than this")
	limit := fs.Int("limit", 0, "list: show at most N (default 50); replay: replay at most N (default all)")
	asJSON := fs.Bool("json", false, "list: print JSON")
	dryRun := fs.Bool("dry-run", false, "replay: only show what would be replayed")
	window := fs.Int("window", PublishWindowDefault, "replay: unconfirmed republishes in flight")
	yes := fs.Bool("yes", false, "purge: really delete every message of the DLQ")
	if help, err := parseArgs(fs, args[1:]); help || err != nil {
		return err
	}
	if *limit < 0 {
		return fmt.Errorf("%w: --limit must not be negative, got %d", ErrUsage, *limit)
	}
	if *window < 1 || *window > 10000 {
		return fmt.Errorf("%w: --window must be in [1, 10000], got %d", ErrUsage, *window)
	}
	var filter dlqFilter
	if rs := splitList(*reasons); len(rs) > 0 {
		filter.Reasons = map[string]bool{}
		for _, r := range rs {
			filter.Reasons[r] = true
		}
	}
	for _, a := range []struct {
		flag, v string
		dst     *time.Duration
	}{{"--older-than", *olderThan, &filter.OlderThan}, {"--newer-than", *newerThan, &filter.NewerThan}} {
		if a.v == "" {
			continue
		}
		d, err := parseAge(a.v)
		if err != nil {
			return fmt.Errorf("%s: %w", a.flag, err)
		}
		*a.dst = d
	}
	switch verb {
	case "list", "replay", "purge":
	default:
		return fmt.Errorf("%w: dlq %q: want list, replay or purge", ErrUsage, verb)
	}

	sess, err := broker.Dial(*amqpURL, "enrichctl-dlq")
	if err != nil {
		return err
	}
	defer sess.Close()
	switch verb {
	case "list":
		n := *limit
		if n == 0 {
			n = DLQListLimitDefault
		}
		msgs, depth, err := sampleDLQ(sess.Connection(), filter, n)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.Stdout, struct {
				Queue    string       `json:"queue"`
				Depth    int          `json:"depth"`
				Messages []dlqMessage `json:"messages"`
			}{broker.DeadLetterQueue, depth, nonNil(msgs)})
		}
		if err := writeDLQTable(e.Stdout, msgs); err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.Stdout, "%d shown of %d message(s) in %s; all left in place\n", len(msgs), depth, broker.DeadLetterQueue)
		return err
	case "replay":
		res, err := replayDLQ(ctx, sess, filter, *limit, *window, *dryRun)
		if *dryRun {
			if werr := writeDLQTable(e.Stdout, res.Selected); werr != nil && err == nil {
				err = werr
			}
			fmt.Fprintf(e.Stdout, "dlq replay (dry run): %d message(s) would be replayed, %d examined; nothing changed\n",
				len(res.Selected), res.Examined)
			return err
		}
		fmt.Fprintf(e.Stdout, "dlq replay: %d replayed to %s, %d failed (left in the DLQ), %d not selected (left in the DLQ), %d examined\n",
			res.Replayed, broker.Exchange, res.Failed, res.Left, res.Examined)
		return err
	default: // purge
		ch, err := sess.Connection().Channel()
		if err != nil {
			return fmt.Errorf("open channel: %w", err)
		}
		defer ch.Close()
		if !*yes {
			q, err := ch.QueueDeclarePassive(broker.DeadLetterQueue, true, false, false, false, nil)
			if err != nil {
				return fmt.Errorf("inspect %s: %w", broker.DeadLetterQueue, err)
			}
			return fmt.Errorf("%w: refusing to delete the %d message(s) of %s without --yes (see dlq list)",
				ErrUsage, q.Messages, broker.DeadLetterQueue)
		}
		n, err := ch.QueuePurge(broker.DeadLetterQueue, false)
		if err != nil {
			return fmt.Errorf("purge %s: %w", broker.DeadLetterQueue, err)
		}
		_, err = fmt.Fprintf(e.Stdout, "purged %d message(s) from %s\n", n, broker.DeadLetterQueue)
		return err
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

func writeDLQTable(w io.Writer, msgs []dlqMessage) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REASON\tATTEMPTS\tAGE\tTRACK_ID\tERROR")
	for _, m := range msgs {
		age := "?"
		if m.hasAge {
			age = m.age.Round(time.Second).String()
		}
		id := m.TrackID
		if id == "" {
			id = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", m.Reason, m.Attempts, age, id, oneLine(m.Error, dlqErrorColumnWidth))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// oneLine puts s on one line and clips it to n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// reasonCounts counts messages per reason, most frequent first.
func reasonCounts(msgs []dlqMessage) []reasonCount {
	m := map[string]int{}
	for _, msg := range msgs {
		m[msg.Reason]++
	}
	out := make([]reasonCount, 0, len(m))
	for r, n := range m {
		out = append(out, reasonCount{Reason: r, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Reason < out[j].Reason
	})
	return out
}

type reasonCount struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
}
