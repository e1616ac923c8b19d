package enrichctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// deadLetter puts a message in the DLQ the way the worker does: through the
// DLX, with a confirm.
func (s *stack) deadLetter(trackID string, hdr amqp.Table) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body := fmt.Sprintf(`{"track_id":%q,"artist":"A","title":"T %s"}`, trackID, trackID)
	testinfra.Must(s.t, s.sess.Publish(ctx, broker.DeadLetterExch, "", amqp.Publishing{
		ContentType: "application/json", DeliveryMode: amqp.Persistent, MessageId: trackID,
		Headers: hdr, Body: []byte(body),
	}), "dead-letter "+trackID)
}

func workerHeaders(reason string, attempts int, firstFailure time.Time, extra amqp.Table) amqp.Table {
	h := amqp.Table{
		broker.HeaderReason:       reason,
		broker.HeaderError:        "boom: " + reason,
		broker.HeaderAttempts:     int64(attempts),
		broker.HeaderFirstFailure: firstFailure.UTC().Format(time.RFC3339),
	}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

type dlqListing struct {
	Queue    string       `json:"queue"`
	Depth    int          `json:"depth"`
	Messages []dlqMessage `json:"messages"`
}

func (s *stack) dlqList(args ...string) dlqListing {
	s.t.Helper()
	out, errOut, err := s.run(nil, append([]string{"dlq", "list", "--json"}, args...)...)
	testinfra.Must(s.t, err, "dlq list: "+errOut)
	var l dlqListing
	testinfra.Must(s.t, json.Unmarshal([]byte(out), &l), "decode dlq list")
	return l
}

type listed struct {
	TrackID, Reason, By string
	Attempts            int
}

func summarize(ms []dlqMessage) []listed {
	out := make([]listed, 0, len(ms))
	for _, m := range ms {
		out = append(out, listed{m.TrackID, m.Reason, m.DeadLetteredBy, m.Attempts})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TrackID < out[j].TrackID })
	return out
}

func TestDLQListReplayPurge(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	now := time.Now()
	s.deadLetter("m1", workerHeaders(broker.ReasonExhausted, 3, now.Add(-2*time.Hour), amqp.Table{"x-custom": "kept"}))
	s.deadLetter("m2", workerHeaders(broker.ReasonExhausted, 3, now.Add(-10*time.Minute), amqp.Table{"x-enrichment-throttled": int64(2)}))
	s.deadLetter("m3", workerHeaders(broker.ReasonExhausted, 3, now.Add(-5*time.Minute), nil))
	s.deadLetter("m4", workerHeaders(broker.ReasonInvalid, 1, now.Add(-time.Minute), nil))
	s.deadLetter("m5", workerHeaders(broker.ReasonPermanent, 1, now.Add(-time.Minute), nil))
	s.deadLetter("m6", amqp.Table{"x-death": []any{amqp.Table{
		"reason": "delivery_limit", "queue": broker.WorkQueue, "count": int64(1),
		"time": now.Add(-time.Hour).Truncate(time.Second), "exchange": broker.Exchange,
	}}, "x-first-death-reason": "delivery_limit"})
	s.waitDepth(broker.DeadLetterQueue, 6)

	// list: everything, left in place.
	l := s.dlqList()
	want := []listed{
		{"m1", broker.ReasonExhausted, "worker", 3}, {"m2", broker.ReasonExhausted, "worker", 3},
		{"m3", broker.ReasonExhausted, "worker", 3}, {"m4", broker.ReasonInvalid, "worker", 1},
		{"m5", broker.ReasonPermanent, "worker", 1}, {"m6", "delivery_limit", "broker", 0},
	}
	if diff := cmp.Diff(want, summarize(l.Messages)); diff != "" || l.Depth != 6 {
		t.Fatalf("dlq list: depth %d (want 6), messages (-want +got):\n%s", l.Depth, diff)
	}
	for _, m := range l.Messages {
		if m.AgeSeconds == nil || m.FirstFailure == nil {
			t.Errorf("%s: no age or first failure", m.TrackID)
		}
		if m.TrackID == "m1" && (m.Error != "boom: retries_exhausted" || *m.AgeSeconds < 7100 || *m.AgeSeconds > 7300) {
			t.Errorf("m1: error %q, age %v s; want boom: retries_exhausted, about 7200 s", m.Error, *m.AgeSeconds)
		}
	}
	s.waitDepth(broker.DeadLetterQueue, 6)
	if got := summarize(s.dlqList("--reason", "invalid_message,permanent_error", "--limit", "1").Messages); len(got) != 1 {
		t.Errorf("dlq list --reason invalid_message,permanent_error --limit 1: %v, want one", got)
	}

	// replay by reason and age: only m1 (2h old).
	out, _, err := s.run(nil, "dlq", "replay", "--reason", broker.ReasonExhausted, "--older-than", "1h")
	testinfra.Must(t, err, "replay older than 1h")
	if !strings.Contains(out, "dlq replay: 1 replayed") {
		t.Errorf("replay printed %q", out)
	}
	// dry run: nothing moves.
	out, _, err = s.run(nil, "dlq", "replay", "--reason", broker.ReasonExhausted, "--dry-run")
	testinfra.Must(t, err, "dry run")
	if !strings.Contains(out, "2 message(s) would be replayed") {
		t.Errorf("dry run printed %q", out)
	}
	s.waitDepth(broker.DeadLetterQueue, 5)
	out, _, err = s.run(nil, "dlq", "replay", "--reason", broker.ReasonExhausted+",delivery_limit")
	testinfra.Must(t, err, "replay the rest")
	if !strings.Contains(out, "dlq replay: 3 replayed to metadata_enrichment, 0 failed (left in the DLQ), 2 not selected") {
		t.Errorf("replay printed %q", out)
	}

	replayed := s.drain(broker.WorkQueue, 4)
	got := map[string]amqp.Delivery{}
	for _, d := range replayed {
		got[d.MessageId] = d
	}
	for _, id := range []string{"m1", "m2", "m3", "m6"} {
		d, ok := got[id]
		if !ok {
			t.Errorf("%s not replayed to the work queue", id)
			continue
		}
		if want := fmt.Sprintf(`{"track_id":%q,"artist":"A","title":"T %s"}`, id, id); string(d.Body) != want {
			t.Errorf("%s: body %s, want it unchanged: %s", id, d.Body, want)
		}
		for k := range d.Headers {
			if k == "x-enrichment-publish-id" {
				continue // broker.Session's own confirm bookkeeping, set on every publish
			}
			if strings.HasPrefix(k, "x-enrichment-") || strings.HasPrefix(k, "x-death") || strings.HasPrefix(k, "x-first-death") || strings.HasPrefix(k, "x-last-death") {
				t.Errorf("%s: header %s not removed (headers %v)", id, k, d.Headers)
			}
		}
		if d.ContentType != "application/json" || d.DeliveryMode != amqp.Persistent {
			t.Errorf("%s: content type %q, delivery mode %d", id, d.ContentType, d.DeliveryMode)
		}
	}
	if got["m1"].Headers["x-custom"] != "kept" {
		t.Errorf("m1: producer header x-custom lost: %v", got["m1"].Headers)
	}
	left := s.dlqList()
	if diff := cmp.Diff(want[3:5], summarize(left.Messages)); diff != "" {
		t.Errorf("left in the DLQ (-want +got):\n%s", diff)
	}

	// purge: refused without --yes.
	s.waitDepth(broker.DeadLetterQueue, 2)
	_, _, err = s.run(nil, "dlq", "purge")
	if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "delete all 2 message(s)") || !strings.Contains(err.Error(), "refusing without --yes") {
		t.Errorf("purge without --yes: error %v, want a refusal naming 2 messages", err)
	}
	if got := s.depth(broker.DeadLetterQueue); got != 2 {
		t.Errorf("DLQ holds %d after a refused purge, want 2", got)
	}
	// purge with a filter: only the selected ones go.
	out, _, err = s.run(nil, "dlq", "purge", "--reason", broker.ReasonPermanent, "--yes")
	testinfra.Must(t, err, "purge permanent_error")
	if !strings.Contains(out, "purged 1 message(s)") {
		t.Errorf("purge --reason printed %q", out)
	}
	if left := summarize(s.dlqList().Messages); len(left) != 1 || left[0].TrackID != "m4" {
		t.Errorf("after purging permanent_error, the DLQ holds %v, want m4 only", left)
	}
	s.waitDepth(broker.DeadLetterQueue, 1)
	out, _, err = s.run(nil, "dlq", "purge", "--yes")
	testinfra.Must(t, err, "purge")
	if !strings.Contains(out, "purged 1 message(s)") {
		t.Errorf("purge printed %q", out)
	}
	if got := s.depth(broker.DeadLetterQueue); got != 0 {
		t.Errorf("DLQ holds %d after purge, want 0", got)
	}
}

func TestDLQFilter(t *testing.T) {
	t.Parallel()
	msg := func(reason string, age time.Duration, known bool) dlqMessage {
		return dlqMessage{Reason: reason, age: age, hasAge: known}
	}
	tests := []struct {
		name   string
		filter dlqFilter
		msg    dlqMessage
		want   bool
	}{
		{"no filter", dlqFilter{}, msg("x", 0, false), true},
		{"reason match", dlqFilter{Reasons: map[string]bool{"a": true, "b": true}}, msg("b", 0, false), true},
		{"reason mismatch", dlqFilter{Reasons: map[string]bool{"a": true}}, msg("b", 0, false), false},
		{"older than: older", dlqFilter{OlderThan: time.Hour}, msg("a", 2*time.Hour, true), true},
		{"older than: newer", dlqFilter{OlderThan: time.Hour}, msg("a", time.Minute, true), false},
		{"newer than: newer", dlqFilter{NewerThan: time.Hour}, msg("a", time.Minute, true), true},
		{"newer than: older", dlqFilter{NewerThan: time.Hour}, msg("a", 2*time.Hour, true), false},
		{"window", dlqFilter{OlderThan: time.Hour, NewerThan: 3 * time.Hour}, msg("a", 2*time.Hour, true), true},
		{"unknown age never matches a bound", dlqFilter{OlderThan: time.Hour}, msg("a", 0, false), false},
	}
	for _, tt := range tests {
		if got := tt.filter.match(tt.msg); got != tt.want {
			t.Errorf("%s: match = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDescribeDLQ(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		d    amqp.Delivery
		want listed
		age  time.Duration
	}{
		{
			name: "worker",
			d: amqp.Delivery{Body: []byte(`{"track_id":"a"}`), Headers: amqp.Table{
				broker.HeaderReason: "permanent_error", broker.HeaderAttempts: int32(2),
				broker.HeaderFirstFailure: "2026-03-01T11:00:00Z"}},
			want: listed{"a", "permanent_error", "worker", 2}, age: time.Hour,
		},
		{
			name: "broker",
			d: amqp.Delivery{Body: []byte(`{"track_id":"b"}`), Headers: amqp.Table{
				"x-delivery-count": int64(20),
				"x-death":          []any{amqp.Table{"reason": "delivery_limit", "queue": "q", "time": now.Add(-time.Minute)}}}},
			want: listed{"b", "delivery_limit", "broker", 20}, age: time.Minute,
		},
		{
			name: "not JSON, no headers: the message timestamp",
			d:    amqp.Delivery{Body: []byte(`\xff`), Timestamp: now.Add(-time.Second)},
			want: listed{"", "unknown", "", 0}, age: time.Second,
		},
	}
	for _, tt := range tests {
		m := describeDLQ(tt.d, now)
		if got := (listed{m.TrackID, m.Reason, m.DeadLetteredBy, m.Attempts}); got != tt.want || !m.hasAge || m.age != tt.age {
			t.Errorf("%s: got %+v age %v (known %v), want %+v age %v", tt.name, got, m.age, m.hasAge, tt.want, tt.age)
		}
	}
}
