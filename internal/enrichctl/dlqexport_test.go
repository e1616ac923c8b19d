package enrichctl

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// publishIDHeader is broker.Session's per-publish bookkeeping header, set
// anew on every publish.
const publishIDHeader = "x-enrichment-publish-id"

// peekDLQ reads every message of the DLQ and puts them all back.
func (s *stack) peekDLQ() []amqp.Delivery {
	s.t.Helper()
	ch, err := s.sess.Connection().Channel()
	testinfra.Must(s.t, err, "channel")
	defer ch.Close()
	var out []amqp.Delivery
	for {
		d, ok, err := ch.Get(broker.DeadLetterQueue, false)
		testinfra.Must(s.t, err, "get")
		if !ok {
			break
		}
		out = append(out, d)
	}
	if len(out) > 0 {
		testinfra.Must(s.t, ch.Nack(out[len(out)-1].DeliveryTag, true, true), "requeue")
	}
	return out
}

// wireMessage is what a message carries, minus the per-publish id.
type wireMessage struct {
	Exchange, RoutingKey string
	Headers              amqp.Table
	Props                amqp.Publishing
}

func wireOf(d amqp.Delivery) wireMessage {
	p := deliveryPublishing(d)
	h := amqp.Table{}
	for k, v := range p.Headers {
		if k != publishIDHeader {
			h[k] = v
		}
	}
	p.Headers, p.Timestamp = nil, time.Unix(d.Timestamp.Unix(), 0).UTC()
	return wireMessage{Exchange: d.Exchange, RoutingKey: d.RoutingKey, Headers: normalize(h).(amqp.Table), Props: p}
}

// normalize makes times comparable (the client decodes them in local time).
func normalize(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC()
	case amqp.Table:
		out := amqp.Table{}
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

func TestDLQExportPurgeImportRestoresEveryMessage(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	// What the worker dead-letters, what the broker dead-letters, and
	// messages no task parser would accept: every AMQP field type, a body
	// that is not UTF-8, an empty body, hostile text.
	msgs := []amqp.Publishing{
		{ContentType: "application/json", DeliveryMode: amqp.Persistent, MessageId: "w1", Timestamp: now, AppId: "enrichctl",
			Headers: workerHeaders(broker.ReasonExhausted, 3, now.Add(-time.Hour), amqp.Table{"x-custom": "kept"}),
			Body:    []byte(`{"track_id":"w1","artist":"Bicep","title":"Glue"}`)},
		{ContentType: "application/json", DeliveryMode: amqp.Persistent, Priority: 7, CorrelationId: "c-1", ReplyTo: "r",
			Expiration: "86400000", Type: "task", Headers: amqp.Table{
				"x-death": []any{amqp.Table{"reason": "delivery_limit", "queue": broker.WorkQueue, "count": int64(20),
					"time": now.Add(-time.Minute), "exchange": broker.Exchange, "routing-keys": []any{"enrich"}}},
				"x-first-death-reason": "delivery_limit", "x-delivery-count": int64(20)},
			Body: []byte(`{"track_id":"b2","artist":"A","title":"T"}`)},
		{DeliveryMode: amqp.Transient, Headers: amqp.Table{
			"bool": true, "int8": int8(-8), "uint8": uint8(200), "int16": int16(-1600), "uint16": uint16(60000),
			"int32": int32(-320000), "uint32": uint32(4000000000), "int64": int64(-1 << 60), "float32": float32(1.5),
			"float64": 2.25e-300, "decimal": amqp.Decimal{Scale: 2, Value: 12345}, "bytes": []byte{0, 1, 0xff},
			"void": nil, "string": "naïve ☕", "latin1": "caf\xe9", "nested": amqp.Table{"a": []any{int32(1), "x", amqp.Table{}}},
			broker.HeaderReason: broker.ReasonInvalid},
			Body: []byte{0xff, 0xfe, 0x00, 'x', '\n'}},
		{Headers: amqp.Table{broker.HeaderReason: broker.ReasonInvalid}, Body: []byte{}},
		{ContentType: "application/json", Headers: amqp.Table{broker.HeaderReason: broker.ReasonInvalid,
			broker.HeaderError: "invalid message: title: \x1b[2J\x07 evil\r\n\u202eer\u2028"},
			Body: []byte("{\"track_id\":\"\x1b]0;pwned\x07\",\"artist\":\"A\u202eB\",\"title\":\"T\\u0007\"}")},
	}
	for i, m := range msgs {
		testinfra.Must(t, s.sess.Publish(ctx, broker.DeadLetterExch, "", m), "dead-letter message "+string(rune('0'+i)))
	}
	s.waitDepth(broker.DeadLetterQueue, len(msgs))
	before := s.peekDLQ()
	s.waitDepth(broker.DeadLetterQueue, len(msgs))

	file := filepath.Join(t.TempDir(), "dlq.jsonl")
	out, errOut, code := s.runIn(nil, nil, "dlq", "export", "--file", file)
	if code != 0 || !strings.Contains(out, "5 message(s) of 5") {
		t.Fatalf("dlq export: exit %d, %q %q", code, out, errOut)
	}
	if _, errOut, code := s.runIn(nil, nil, "dlq", "export", "--file", file); code != 2 || !strings.Contains(errOut, "never overwrites") {
		t.Errorf("export over an existing file: exit %d, %q", code, errOut)
	}
	raw, err := os.ReadFile(file)
	testinfra.Must(t, err, "read the export")
	if bytes.ContainsAny(raw, "\x1b\x07\r") || bytes.Contains(raw, []byte("\u202e")) || bytes.Contains(raw, []byte("\u2028")) {
		t.Errorf("the export holds raw control or bidi characters:\n%s", raw)
	}
	out, errOut, code = s.runIn(nil, nil, "dlq", "purge", "--yes")
	if code != 0 || !strings.Contains(out, "purged 5") {
		t.Fatalf("purge: exit %d, %q %q", code, out, errOut)
	}
	out, errOut, code = s.runIn(nil, nil, "dlq", "import", "--file", file, "-o", "json")
	r := decodePublish(t, out)
	if code != 0 || r.Confirmed != 5 || !r.Complete {
		t.Fatalf("import: exit %d, %+v %q", code, r, errOut)
	}
	s.waitDepth(broker.DeadLetterQueue, len(msgs))
	after := s.peekDLQ()
	if len(after) != len(before) {
		t.Fatalf("%d messages after import, want %d", len(after), len(before))
	}
	bodyBytes := 0
	for i := range before {
		if !bytes.Equal(before[i].Body, after[i].Body) {
			t.Errorf("message %d: body %q after import, want %q", i, after[i].Body, before[i].Body)
		}
		bodyBytes += len(before[i].Body)
		if diff := cmp.Diff(wireOf(before[i]), wireOf(after[i])); diff != "" {
			t.Errorf("message %d changed (-exported +imported):\n%s", i, diff)
		}
	}
	t.Logf("dlq export → purge --yes → import: %d messages, %d body bytes, every property and header equal (but %s)", len(before), bodyBytes, publishIDHeader)

	t.Run("publish takes an export's bodies as tasks", func(t *testing.T) {
		out, errOut, code := s.runIn(nil, nil, "publish", "--file", file, "-o", "json")
		r := decodePublish(t, out)
		// w1 and b2 are tasks; the others were invalid and still are.
		if code != 1 || r.Confirmed != 2 || r.Invalid != 3 {
			t.Fatalf("publish of an export: exit %d, %+v %q", code, r, errOut)
		}
		for _, d := range s.drain(broker.WorkQueue, 2) {
			if d.Headers[broker.HeaderReason] != nil || d.MessageId == "" {
				t.Errorf("republished %s with headers %v", d.MessageId, d.Headers)
			}
		}
	})
	t.Run("import --to work is a replay", func(t *testing.T) {
		out, errOut, code := s.runIn(nil, nil, "dlq", "import", "--file", file, "--to", "work", "-o", "json")
		if r := decodePublish(t, out); code != 0 || r.Confirmed != 5 {
			t.Fatalf("import --to work: exit %d, %+v %q", code, r, errOut)
		}
		for _, d := range s.drain(broker.WorkQueue, 5) {
			for k := range d.Headers {
				if isReplayDroppedHeader(k) && k != publishIDHeader {
					t.Errorf("header %s kept", k)
				}
			}
		}
	})
}

func TestExportRecordDecodesWhatItEncodes(t *testing.T) {
	t.Parallel()
	d := amqp.Delivery{Exchange: broker.DeadLetterExch, Headers: amqp.Table{"t": time.Unix(1767225600, 0),
		"n": amqp.Table{"a": []any{int16(1), nil, []byte("x")}}, "f": float32(0.1)}, Body: []byte("\x00\xff"),
		Timestamp: time.Unix(1767225600, 0), DeliveryMode: 2}
	var b bytes.Buffer
	testinfra.Must(t, encodeJSON(&b, newExportRecord(d, time.Now()), false), "encode")
	var generic map[string]any
	testinfra.Must(t, json.Unmarshal(b.Bytes(), &generic), "the line is JSON")
	x, err := decodeExportRecord(bytes.TrimSpace(b.Bytes()))
	testinfra.Must(t, err, "decode")
	if diff := cmp.Diff(normalize(d.Headers), normalize(x.msg.Headers)); diff != "" || !bytes.Equal(x.body, d.Body) || !x.msg.Timestamp.Equal(d.Timestamp) {
		t.Errorf("round trip: headers (-want +got):\n%s\nbody %q, timestamp %v", diff, x.body, x.msg.Timestamp)
	}
	if _, err := decodeExportRecord([]byte(`{"format":"` + exportFormat + `","surprise":1}`)); err == nil {
		t.Error("a record with an unknown field decoded")
	}
}
