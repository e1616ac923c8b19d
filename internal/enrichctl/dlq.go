package enrichctl

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/spf13/cobra"

	"github.com/djmeta/enrichment/internal/broker"
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

// deliveryPublishing is d as it was published: every property, every
// header and the body, unchanged.
func deliveryPublishing(d amqp.Delivery) amqp.Publishing {
	return amqp.Publishing{
		Headers:         d.Headers,
		ContentType:     d.ContentType,
		ContentEncoding: d.ContentEncoding,
		DeliveryMode:    d.DeliveryMode,
		Priority:        d.Priority,
		CorrelationId:   d.CorrelationId,
		ReplyTo:         d.ReplyTo,
		Expiration:      d.Expiration,
		MessageId:       d.MessageId,
		Timestamp:       d.Timestamp,
		Type:            d.Type,
		UserId:          d.UserId,
		AppId:           d.AppId,
		Body:            d.Body,
	}
}

// freshTask is a dead-lettered message as a fresh task: persistent, body
// and properties unchanged, the attempt headers removed.
func freshTask(p amqp.Publishing) amqp.Publishing {
	var hdr amqp.Table
	for k, v := range p.Headers {
		if isReplayDroppedHeader(k) {
			continue
		}
		if hdr == nil {
			hdr = amqp.Table{}
		}
		hdr[k] = v
	}
	p.Headers = hdr
	p.DeliveryMode = amqp.Persistent
	// A per-message TTL or a user id checked against the connection's user
	// belong to the first publish, not to a replay.
	p.Expiration, p.UserId = "", ""
	return p
}

// replayPublishing is d as a fresh task (see freshTask).
func replayPublishing(d amqp.Delivery) amqp.Publishing { return freshTask(deliveryPublishing(d)) }

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

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
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
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", Escape(m.Reason), m.Attempts, age, Escape(id), Escape(oneLine(m.Error, dlqErrorColumnWidth)))
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

// dlqVerbs are the dlq subcommands, registered by their files.
var dlqVerbs []func(*app) *cobra.Command

// registerDLQ adds a dlq subcommand; call it from an init function.
func registerDLQ(f func(*app) *cobra.Command) { dlqVerbs = append(dlqVerbs, f) }

func init() {
	register(func(a *app) *cobra.Command {
		cmd := group(&cobra.Command{
			Use:   "dlq",
			Short: "List, export, replay, import or purge the dead-letter queue",
			Long: "dlq works on " + broker.DeadLetterQueue + " in the vhost of AMQP_URL. list and export read\n" +
				"messages with basic.get and put every one back; replay moves the selected ones to the work\n" +
				"queue; purge deletes them all (export them first); import puts exported ones back.",
		})
		for _, f := range dlqVerbs {
			cmd.AddCommand(f(a))
		}
		return cmd
	})
}

// Dead-letter reasons a --reason filter accepts: the worker's, the broker's
// own (the x-death reasons) and unknown (a message with neither).
var (
	workerReasons = []string{broker.ReasonInvalid, broker.ReasonPermanent, broker.ReasonExhausted}
	brokerReasons = []string{"delivery_limit", "rejected", "expired", "maxlen"}
	knownReasons  = append(append(append([]string{}, workerReasons...), brokerReasons...), "unknown")
)

// filterFlags are the selection flags of the dlq verbs that select.
type filterFlags struct {
	reasons, olderThan, newerThan string
}

func addFilterFlags(cmd *cobra.Command) *filterFlags {
	f := &filterFlags{}
	cmd.Flags().StringVar(&f.reasons, "reason", "", "only these reasons, comma-separated: "+strings.Join(knownReasons, ", "))
	cmd.Flags().StringVar(&f.olderThan, "older-than", "", "only messages whose first failure is older than this (e.g. 90m, 36h, 2d)")
	cmd.Flags().StringVar(&f.newerThan, "newer-than", "", "only messages whose first failure is newer than this")
	_ = cmd.RegisterFlagCompletionFunc("reason", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return knownReasons, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	})
	return f
}

// any reports whether a filter was given.
func (f *filterFlags) any() bool { return f.reasons != "" || f.olderThan != "" || f.newerThan != "" }

// filter checks the flags: a reason must be a real one, an age a duration.
func (f *filterFlags) filter() (dlqFilter, error) {
	var out dlqFilter
	if f.reasons != "" {
		rs := splitList(f.reasons)
		if len(rs) == 0 {
			return dlqFilter{}, usageErr("--reason: no reason given")
		}
		out.Reasons = map[string]bool{}
		for _, r := range rs {
			if !slices.Contains(knownReasons, r) {
				return dlqFilter{}, usageErr("--reason: %q is not a dead-letter reason; want %s", r, strings.Join(knownReasons, ", "))
			}
			out.Reasons[r] = true
		}
	}
	for _, a := range []struct {
		flag, v string
		dst     *time.Duration
	}{{"--older-than", f.olderThan, &out.OlderThan}, {"--newer-than", f.newerThan, &out.NewerThan}} {
		if a.v == "" {
			continue
		}
		d, err := parseAge(a.v)
		if err != nil {
			return dlqFilter{}, fmt.Errorf("%s: %w", a.flag, err)
		}
		*a.dst = d
	}
	return out, nil
}

// dial connects to the broker of --amqp-url or AMQP_URL.
func (a *app) dial(u *envURL, name string) (*broker.Session, error) {
	url, err := a.amqpURL(u)
	if err != nil {
		return nil, err
	}
	return broker.Dial(url, name)
}
