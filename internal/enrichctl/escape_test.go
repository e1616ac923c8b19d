package enrichctl

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/testinfra"
)

func TestEscape(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"Bicep – Apricots (Extended Mix)", "Bicep – Apricots (Extended Mix)"},
		{"Sigur Rós, 坂本龍一, Beyoncé 🎶", "Sigur Rós, 坂本龍一, Beyoncé 🎶"},
		{"family 👨\u200d👩\u200d👧", "family 👨\u200d👩\u200d👧"},
		{"\x1b[2J\x1b]0;pwned\x07", `\x1b[2J\x1b]0;pwned\x07`},
		{"a\r\nb\tc\x00d\x7f", `a\x0d\x0ab\x09c\x00d\x7f`},
		{"abc\u202edef\u2066x\u2069\u200f", `abc\u202edef\u2066x\u2069\u200f`},
		{"line\u2028sep\u2029para\u0085next", `line\u2028sep\u2029para\u0085next`},
		{"tag\U000e0041s", `tag\U000e0041s`},
		{"bad \xff\xfe utf8", `bad \xff\xfe utf8`},
		{"\u009b31m C1 CSI", `\u009b31m C1 CSI`},
	}
	for _, tt := range tests {
		if got := Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestJSONOutputIsEscapedButEqual(t *testing.T) {
	t.Parallel()
	in := map[string]string{"s": "a\x1bb\u202ec\u2028d\x7fe\U000e0041<&>"}
	var b bytes.Buffer
	testinfra.Must(t, writeJSON(&b, in), "write")
	for _, bad := range []string{"\x1b", "\u202e", "\u2028", "\x7f", "\U000e0041"} {
		if strings.Contains(b.String(), bad) {
			t.Errorf("JSON output holds %q raw: %s", bad, b.String())
		}
	}
	var back map[string]string
	testinfra.Must(t, json.Unmarshal(b.Bytes(), &back), "decode")
	if back["s"] != in["s"] {
		t.Errorf("decoded %q, want %q", back["s"], in["s"])
	}
}

// hostile is text a producer or a failure could put in a message.
const hostile = "\x1b[2J\x1b]0;pwned\x07\r\n\u202eevil\u2028"

func assertNoRawControls(t *testing.T, what, out string) {
	t.Helper()
	for _, bad := range []string{"\x1b", "\x07", "\r", "\u202e", "\u2028"} {
		if strings.Contains(out, bad) {
			t.Errorf("%s printed %q raw:\n%q", what, bad, out)
		}
	}
}

func TestTablesEscapeWhatTheyPrint(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	body, err := json.Marshal(map[string]string{"track_id": "id" + hostile, "artist": "A", "title": "T"})
	testinfra.Must(t, err, "body")
	testinfra.Must(t, s.sess.Publish(ctx, broker.DeadLetterExch, "", amqp.Publishing{
		ContentType: "application/json", Body: body,
		Headers: amqp.Table{broker.HeaderReason: broker.ReasonInvalid, broker.HeaderError: "invalid message: title: " + hostile},
	}), "dead-letter")
	testinfra.Must(t, s.sess.Publish(ctx, broker.DeadLetterExch, "", amqp.Publishing{
		Body: body, Headers: amqp.Table{broker.HeaderReason: "reason" + hostile},
	}), "dead-letter")
	s.waitDepth(broker.DeadLetterQueue, 2)
	s.exec(`INSERT INTO tracks (id, artist, title) VALUES ($1, 'A', 'T')`, "track"+hostile)

	for _, args := range [][]string{
		{"dlq", "list"}, {"dlq", "list", "-o", "json"}, {"dlq", "replay", "--reason", broker.ReasonInvalid, "--dry-run"},
		{"dlq", "export"}, {"status", "--no-refresh"}, {"status", "-o", "json"},
	} {
		out, errOut, code := s.runIn(nil, nil, args...)
		if code != 0 {
			t.Errorf("%s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		assertNoRawControls(t, strings.Join(args, " "), out+errOut)
		if args[0] == "dlq" && args[1] == "list" && len(args) == 2 {
			if !strings.Contains(out, `id\x1b[2J\x1b]0;pwned\x07\x0d\x0a\u202eevil\u2028`) {
				t.Errorf("dlq list does not show the track id escaped:\n%s", out)
			}
			t.Logf("dlq list of a message with ESC, BEL, CR LF, U+202E and U+2028 in its track id and error:\n%s", out)
		}
	}
}
