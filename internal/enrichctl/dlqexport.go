package enrichctl

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/spf13/cobra"

	"github.com/djmeta/enrichment/internal/broker"
)

// exportFormat marks every line `dlq export` writes.
const exportFormat = "enrichctl-dlq-export/1"

// maxImportLine is the longest line dlq import reads: a message of
// RabbitMQ's largest allowed size (512 MiB), base64-encoded, with headers.
const maxImportLine = 700 << 20

func init() {
	registerDLQ(newDLQExportCmd)
	registerDLQ(newDLQImportCmd)
}

// exportRecord is one line of a DLQ export: the message as it sits in the
// DLQ, every property, every header (typed, see headerValue) and the body,
// so that it can be published again byte for byte. Summary repeats what
// dlq list shows, for reading and grepping; import ignores it.
type exportRecord struct {
	Format      string                 `json:"format"`
	Queue       string                 `json:"queue"`
	Exchange    string                 `json:"exchange"`
	RoutingKey  string                 `json:"routing_key"`
	Redelivered bool                   `json:"redelivered,omitempty"`
	Properties  exportProperties       `json:"properties"`
	Headers     map[string]headerValue `json:"headers,omitempty"`
	// Body is set for a UTF-8 body, BodyBase64 for any other.
	Body       *string     `json:"body,omitempty"`
	BodyBase64 *string     `json:"body_base64,omitempty"`
	Summary    *dlqMessage `json:"summary,omitempty"`
}

// exportProperties are the AMQP basic properties.
type exportProperties struct {
	ContentType     string `json:"content_type,omitempty"`
	ContentEncoding string `json:"content_encoding,omitempty"`
	DeliveryMode    uint8  `json:"delivery_mode"`
	Priority        uint8  `json:"priority,omitempty"`
	CorrelationID   string `json:"correlation_id,omitempty"`
	ReplyTo         string `json:"reply_to,omitempty"`
	Expiration      string `json:"expiration,omitempty"`
	MessageID       string `json:"message_id,omitempty"`
	// Timestamp is RFC 3339 (AMQP timestamps are whole seconds).
	Timestamp string `json:"timestamp,omitempty"`
	Type      string `json:"type,omitempty"`
	UserID    string `json:"user_id,omitempty"`
	AppID     string `json:"app_id,omitempty"`
}

// headerValue is an AMQP field value with its type, written as a JSON
// object with one key, the type: {"string": "..."}, {"int64": 3},
// {"timestamp": "2026-03-01T09:00:00Z"}, {"array": [...]}, {"table":
// {...}}, {"bytes": "base64"}, ... so that it is published again as the
// same AMQP type.
type headerValue struct{ v any }

func (h headerValue) MarshalJSON() ([]byte, error) {
	typ, val, err := encodeField(h.v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{typ: val})
}

func (h *headerValue) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("header value: %w", err)
	}
	if len(m) != 1 {
		return fmt.Errorf("header value %s: want an object with one key, the type", b)
	}
	for typ, raw := range m {
		v, err := decodeField(typ, raw)
		if err != nil {
			return err
		}
		h.v = v
	}
	return nil
}

func floatString(f float64, bits int) string { return strconv.FormatFloat(f, 'g', -1, bits) }

func encodeField(v any) (string, any, error) {
	switch x := v.(type) {
	case nil:
		return "void", nil, nil
	case bool:
		return "bool", x, nil
	case uint8:
		return "uint8", x, nil
	case int8:
		return "int8", x, nil
	case int16:
		return "int16", x, nil
	case uint16:
		return "uint16", x, nil
	case int:
		return "int32", int32(x), nil // the client writes an int as a 32-bit integer
	case int32:
		return "int32", x, nil
	case uint32:
		return "uint32", x, nil
	case int64:
		return "int64", x, nil
	case float32:
		return "float32", floatString(float64(x), 32), nil
	case float64:
		return "float64", floatString(x, 64), nil
	case amqp.Decimal:
		return "decimal", map[string]any{"scale": x.Scale, "value": x.Value}, nil
	case string:
		if utf8.ValidString(x) {
			return "string", x, nil
		}
		return "string_base64", base64.StdEncoding.EncodeToString([]byte(x)), nil
	case []byte:
		return "bytes", base64.StdEncoding.EncodeToString(x), nil
	case time.Time:
		return "timestamp", x.UTC().Format(time.RFC3339), nil
	case []any:
		out := make([]headerValue, len(x))
		for i, e := range x {
			out[i] = headerValue{e}
		}
		return "array", out, nil
	case amqp.Table:
		out := make(map[string]headerValue, len(x))
		for k, e := range x {
			out[k] = headerValue{e}
		}
		return "table", out, nil
	}
	return "", nil, fmt.Errorf("header value of type %T cannot be exported", v)
}

func decodeField(typ string, raw json.RawMessage) (any, error) {
	bad := func(err error) (any, error) { return nil, fmt.Errorf("header value {%q: %s}: %w", typ, raw, err) }
	num := func(dst any) error { return json.Unmarshal(raw, dst) }
	switch typ {
	case "void":
		return nil, nil
	case "bool":
		var v bool
		if err := num(&v); err != nil {
			return bad(err)
		}
		return v, nil
	case "uint8":
		var v uint8
		if err := num(&v); err != nil {
			return bad(err)
		}
		return v, nil
	case "int8":
		var v int8
		if err := num(&v); err != nil {
			return bad(err)
		}
		return v, nil
	case "int16":
		var v int16
		if err := num(&v); err != nil {
			return bad(err)
		}
		return v, nil
	case "uint16":
		var v uint16
		if err := num(&v); err != nil {
			return bad(err)
		}
		return v, nil
	case "int32":
		var v int32
		if err := num(&v); err != nil {
			return bad(err)
		}
		return v, nil
	case "uint32":
		var v uint32
		if err := num(&v); err != nil {
			return bad(err)
		}
		return v, nil
	case "int64":
		var v int64
		if err := num(&v); err != nil {
			return bad(err)
		}
		return v, nil
	case "float32", "float64":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return bad(err)
		}
		bits := 64
		if typ == "float32" {
			bits = 32
		}
		f, err := strconv.ParseFloat(s, bits)
		if err != nil {
			return bad(err)
		}
		if bits == 32 {
			return float32(f), nil
		}
		return f, nil
	case "decimal":
		var d struct {
			Scale uint8 `json:"scale"`
			Value int32 `json:"value"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			return bad(err)
		}
		return amqp.Decimal{Scale: d.Scale, Value: d.Value}, nil
	case "string", "string_base64", "bytes":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return bad(err)
		}
		if typ == "string" {
			return s, nil
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return bad(err)
		}
		if typ == "bytes" {
			return b, nil
		}
		return string(b), nil
	case "timestamp":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return bad(err)
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return bad(err)
		}
		return t, nil
	case "array":
		var vs []headerValue
		if err := json.Unmarshal(raw, &vs); err != nil {
			return bad(err)
		}
		out := make([]any, len(vs))
		for i, v := range vs {
			out[i] = v.v
		}
		return out, nil
	case "table":
		var m map[string]headerValue
		if err := json.Unmarshal(raw, &m); err != nil {
			return bad(err)
		}
		out := make(amqp.Table, len(m))
		for k, v := range m {
			out[k] = v.v
		}
		return out, nil
	}
	return nil, fmt.Errorf("header value: unknown type %q", typ)
}

// newExportRecord describes a delivery from the DLQ.
func newExportRecord(d amqp.Delivery, now time.Time) exportRecord {
	x := exportRecord{
		Format: exportFormat, Queue: broker.DeadLetterQueue, Exchange: d.Exchange, RoutingKey: d.RoutingKey,
		Redelivered: d.Redelivered,
		Properties: exportProperties{
			ContentType: d.ContentType, ContentEncoding: d.ContentEncoding, DeliveryMode: d.DeliveryMode,
			Priority: d.Priority, CorrelationID: d.CorrelationId, ReplyTo: d.ReplyTo, Expiration: d.Expiration,
			MessageID: d.MessageId, Type: d.Type, UserID: d.UserId, AppID: d.AppId,
		},
	}
	if !d.Timestamp.IsZero() {
		x.Properties.Timestamp = d.Timestamp.UTC().Format(time.RFC3339)
	}
	if len(d.Headers) > 0 {
		x.Headers = make(map[string]headerValue, len(d.Headers))
		for k, v := range d.Headers {
			x.Headers[k] = headerValue{v}
		}
	}
	if utf8.Valid(d.Body) {
		s := string(d.Body)
		x.Body = &s
	} else {
		s := base64.StdEncoding.EncodeToString(d.Body)
		x.BodyBase64 = &s
	}
	m := describeDLQ(d, now)
	x.Summary = &m
	return x
}

// decodedExport is an export record as a message again.
type decodedExport struct {
	exchange, key string
	msg           amqp.Publishing
	body          []byte
}

// isExportLine tells a DLQ export line from a task line cheaply.
func isExportLine(line []byte) bool {
	return bytes.Contains(line, []byte(`"`+exportFormat+`"`))
}

func decodeExportRecord(line []byte) (decodedExport, error) {
	var x exportRecord
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&x); err != nil {
		return decodedExport{}, fmt.Errorf("not a dlq export record: %w", err)
	}
	if x.Format != exportFormat {
		return decodedExport{}, fmt.Errorf("not a dlq export record: format %q, want %q", x.Format, exportFormat)
	}
	var body []byte
	switch {
	case x.Body != nil && x.BodyBase64 != nil:
		return decodedExport{}, errors.New("dlq export record: both body and body_base64")
	case x.Body != nil:
		body = []byte(*x.Body)
	case x.BodyBase64 != nil:
		b, err := base64.StdEncoding.DecodeString(*x.BodyBase64)
		if err != nil {
			return decodedExport{}, fmt.Errorf("dlq export record: body_base64: %w", err)
		}
		body = b
	default:
		body = []byte{}
	}
	p := x.Properties
	msg := amqp.Publishing{
		ContentType: p.ContentType, ContentEncoding: p.ContentEncoding, DeliveryMode: p.DeliveryMode,
		Priority: p.Priority, CorrelationId: p.CorrelationID, ReplyTo: p.ReplyTo, Expiration: p.Expiration,
		MessageId: p.MessageID, Type: p.Type, UserId: p.UserID, AppId: p.AppID, Body: body,
	}
	if p.Timestamp != "" {
		t, err := time.Parse(time.RFC3339, p.Timestamp)
		if err != nil {
			return decodedExport{}, fmt.Errorf("dlq export record: timestamp: %w", err)
		}
		msg.Timestamp = t
	}
	if len(x.Headers) > 0 {
		msg.Headers = make(amqp.Table, len(x.Headers))
		for k, v := range x.Headers {
			msg.Headers[k] = v.v
		}
	}
	return decodedExport{exchange: x.Exchange, key: x.RoutingKey, msg: msg, body: body}, nil
}

// exportResult is what an export did.
type exportResult struct {
	Queue    string `json:"queue"`
	File     string `json:"file"`
	Depth    int    `json:"depth"`    // messages in the DLQ when the export began
	Examined int    `json:"examined"` // read (and put back)
	Exported int    `json:"exported"`
	Bytes    int64  `json:"bytes"`
}

// exportDLQ writes the selected messages (at most limit, 0: all) to w, one
// JSON line each, and puts every message back. It reads at most the
// messages in the DLQ when it starts.
func exportDLQ(conn *amqp.Connection, f dlqFilter, limit int, w io.Writer) (exportResult, error) {
	res := exportResult{Queue: broker.DeadLetterQueue}
	r, err := openDLQ(conn)
	if err != nil {
		return res, err
	}
	res.Depth = r.examine
	now := time.Now()
	cw := &countingWriter{w: w}
	var werr error
	for res.Examined < r.examine && (limit <= 0 || res.Exported < limit) {
		d, ok, err := r.next()
		if err != nil {
			werr = err
			break
		}
		if !ok {
			break
		}
		r.hold(d)
		res.Examined++
		if !f.match(describeDLQ(d, now)) {
			continue
		}
		if err := encodeJSON(cw, newExportRecord(d, now), false); err != nil {
			werr = err
			break
		}
		res.Exported++
	}
	res.Bytes = cw.n
	if err := r.close(); err != nil && werr == nil {
		werr = err
	}
	return res, werr
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func newDLQExportCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write dead-lettered messages with bodies and headers as JSONL (leaves them in place)",
		Long: "export writes each selected message of the DLQ as one JSON line: every property, every header\n" +
			"(with its AMQP type) and the body (as text, or body_base64 when it is not UTF-8), plus a\n" +
			"summary like dlq list's. Every message is put back. `enrichctl dlq import --file F` publishes\n" +
			"the lines back to the DLQ as they were (or --to work as fresh tasks); `enrichctl publish\n" +
			"--file F` publishes their bodies as tasks. With --file the export is written to F.tmp and\n" +
			"renamed when complete; an existing F is never overwritten.",
		Example: "  enrichctl dlq export --file dlq-$(date +%F).jsonl\n  enrichctl dlq export --reason invalid_message > invalid.jsonl",
		Args:    noArgs,
	}
	filters := addFilterFlags(cmd)
	limit := cmd.Flags().Int("limit", 0, "export at most N (0: all selected)")
	file := cmd.Flags().String("file", "-", "write to this new file; - for stdout (the report then goes to stderr)")
	amqpURL := a.urlFlag(cmd, "amqp-url", "AMQP_URL", "broker URL")
	out := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *limit < 0 {
			return usageErr("--limit must not be negative, got %d", *limit)
		}
		f, err := filters.filter()
		if err != nil {
			return err
		}
		report := a.env.Stdout
		var dst io.Writer = a.env.Stdout
		var tmp *os.File
		if *file == "-" {
			report = a.env.Stderr
		} else {
			if _, err := os.Lstat(*file); err == nil {
				return usageErr("%s exists; dlq export never overwrites a file: choose another name", *file)
			}
			tmp, err = os.OpenFile(*file+".tmp", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("create the export file: %w", err)
			}
			defer func() {
				if tmp != nil {
					_ = tmp.Close()
					_ = os.Remove(tmp.Name())
				}
			}()
			dst = tmp
		}
		sess, err := a.dial(amqpURL, "enrichctl-dlq")
		if err != nil {
			return err
		}
		defer sess.Close()
		bw := bufio.NewWriterSize(dst, 256<<10)
		res, err := exportDLQ(sess.Connection(), f, *limit, bw)
		res.File = *file
		if ferr := bw.Flush(); ferr != nil && err == nil {
			err = fmt.Errorf("write the export: %w", ferr)
		}
		if err == nil && tmp != nil {
			err = tmp.Sync()
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Rename(tmp.Name(), *file)
			}
			if err == nil {
				tmp = nil
				if d, derr := os.Open(filepath.Dir(*file)); derr == nil {
					_ = d.Sync()
					_ = d.Close()
				}
			}
		}
		if err != nil {
			return fmt.Errorf("dlq export: %w (nothing was removed from the DLQ)", err)
		}
		if out.json() {
			return writeJSON(report, res)
		}
		where := *file
		if where == "-" {
			where = "stdout"
		}
		_, err = fmt.Fprintf(report, "dlq export: %d message(s) of %d in %s written to %s (%d bytes); all left in place\n",
			res.Exported, res.Depth, broker.DeadLetterQueue, where, res.Bytes)
		return err
	}
	return cmd
}

// exportLines reads the records of a DLQ export for dlq import.
type exportLines struct {
	lr *lineReader
	to string // dlq or work
}

func (s *exportLines) next() (pubRecord, error) {
	for {
		text, n, err := s.lr.next()
		line := s.lr.line
		switch {
		case errors.Is(err, errLineTooLong):
			return pubRecord{line: line, err: fmt.Errorf("the line is %d bytes, longer than any message", n)}, nil
		case err != nil:
			return pubRecord{}, err
		}
		if line == 1 {
			text = bytes.TrimPrefix(text, utf8BOM)
		}
		text = bytes.TrimSpace(text)
		if len(text) == 0 {
			continue
		}
		x, err := decodeExportRecord(text)
		if err != nil {
			return pubRecord{line: line, err: err}, nil
		}
		if s.to == "work" {
			return pubRecord{line: line, exchange: broker.Exchange, key: broker.RoutingKey, msg: freshTask(x.msg)}, nil
		}
		// Back to the DLQ through the dead-letter exchange, as the worker
		// puts it there.
		return pubRecord{line: line, exchange: broker.DeadLetterExch, key: x.key, msg: x.msg}, nil
	}
}
func (s *exportLines) pos() inputPos { return s.lr.pos() }
func (s *exportLines) close()        { s.lr.close() }

func newDLQImportCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Publish the messages of a dlq export back to the DLQ (or as fresh tasks)",
		Long: "import publishes every line of a `dlq export` file with publisher confirms: by default back to\n" +
			"the DLQ through " + broker.DeadLetterExch + ", with the properties, headers and body it had (the\n" +
			"restored messages are the exported ones, byte for byte, except x-enrichment-publish-id, a\n" +
			"per-publish id every confirmed publish carries anew); with --to work to the work exchange as\n" +
			"fresh tasks, like dlq replay. A bad line is reported with its number; --state makes the run\n" +
			"resumable like publish's.",
		Args: noArgs,
	}
	file := cmd.Flags().String("file", "", "the export to import; - for stdin")
	to := cmd.Flags().String("to", "dlq", "where to: dlq (as they were) or work (fresh tasks, attempt headers removed)")
	window := cmd.Flags().Int("window", PublishWindowDefault, "unconfirmed publishes in flight")
	statePath := cmd.Flags().String("state", "", "state file that makes the run resumable (created if missing)")
	dryRun := cmd.Flags().Bool("dry-run", false, "only check the file; publish nothing")
	quiet := cmd.Flags().Bool("quiet", false, "no progress bar")
	amqpURL := a.urlFlag(cmd, "amqp-url", "AMQP_URL", "broker URL")
	out := addOutput(cmd)
	_ = cmd.RegisterFlagCompletionFunc("to", cobra.FixedCompletions([]string{"dlq", "work"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagFilename("file", "jsonl")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		switch {
		case *file == "":
			return usageErr("dlq import needs --file (the output of dlq export; - for stdin)")
		case *to != "dlq" && *to != "work":
			return usageErr("--to must be dlq or work, got %q", *to)
		case *window < 1 || *window > 10000:
			return usageErr("--window must be in [1, 10000], got %d", *window)
		}
		lr, err := openInput(*file, a.env.Stdin, maxImportLine, *statePath != "")
		if err != nil {
			return err
		}
		src := &exportLines{lr: lr, to: *to}
		defer src.close()
		o := publishOptions{Command: "dlq import", Input: *file, Format: "dlq-export-to-" + *to,
			Window: *window, StatePath: *statePath, DryRun: *dryRun}
		return a.runPublishCommand(src, o, amqpURL, out, *quiet, *file)
	}
	return cmd
}
