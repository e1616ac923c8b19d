package enrichctl

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/schollz/progressbar/v3"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/task"
)

// PublishWindowDefault is the number of unconfirmed publishes in flight.
const PublishWindowDefault = 256

// PriorityLaneDefault is the least priority published to the priority lane
// (routing key enrich.priority), which workers serve before the backlog.
const PriorityLaneDefault = 8

// PublishResult counts what a publish run did.
type PublishResult struct {
	Confirmed int // the broker took responsibility
	Failed    int // nacked, returned or not sent
	Invalid   int // lines rejected before publishing
}

func publish(ctx context.Context, cfg config.Common, args []string, e Env) error {
	fs := newFlags("publish", e)
	file := fs.String("file", "", "JSONL (one task per line) or CSV (header row) file; - for JSONL on stdin")
	window := fs.Int("window", PublishWindowDefault, "unconfirmed publishes in flight")
	prio := fs.Int("priority", 0, "priority 1..10 for tasks that carry none (0: leave as is)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	lane := fs.Int("priority-lane", PriorityLaneDefault, "tasks with at least this priority go to the priority lane (0: never)")
	amqpURL := fs.String("amqp-url", cfg.AMQPURL, "broker URL (AMQP_URL)")
	one := map[string]*string{}
	for _, f := range []string{"track-id", "artist", "title", "isrc", "spotify-id", "musicbrainz-id", "discogs-release-id", "source", "correlation-id"} {
		one[f] = fs.String(f, "", "single task: "+strings.ReplaceAll(f, "-", "_"))
	}
	durationMS := fs.Int("duration-ms", 0, "single task: duration_ms")
	force := fs.Bool("force-refresh", false, "single task: force_refresh")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *window < 1 || *window > 10000 {
		return fmt.Errorf("%w: --window must be in [1, 10000], got %d", ErrUsage, *window)
	}
	if *prio < 0 || *prio > task.PriorityMax {
		return fmt.Errorf("%w: --priority must be in [1, 10], got %d", ErrUsage, *prio)
	}

	var src source
	switch {
	case *file != "" && *one["track-id"] != "":
		return fmt.Errorf("%w: give --file or --track-id, not both", ErrUsage)
	case *file != "":
		s, err := openSource(*file, e)
		if err != nil {
			return err
		}
		defer s.close()
		src = s
	case *one["track-id"] != "":
		m := map[string]any{}
		for k, v := range one {
			if *v != "" {
				m[strings.ReplaceAll(k, "-", "_")] = *v
			}
		}
		if *durationMS != 0 {
			m["duration_ms"] = *durationMS
		}
		if *force {
			m["force_refresh"] = true
		}
		body, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("encode task: %w", err)
		}
		src = &sliceSource{bodies: [][]byte{body}}
	default:
		return fmt.Errorf("%w: publish needs --file or --track-id (see enrichctl help)", ErrUsage)
	}

	sess, err := broker.Dial(*amqpURL, "enrichctl-publish")
	if err != nil {
		return err
	}
	defer sess.Close()

	var bar *progressbar.ProgressBar
	if e.Interactive && !*quiet && *file != "" {
		bar = progressbar.NewOptions64(src.size(), progressbar.OptionSetWriter(e.Stderr),
			progressbar.OptionSetDescription("publishing"), progressbar.OptionShowCount(),
			progressbar.OptionShowIts(), progressbar.OptionSetItsString("tasks"),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	}
	start := time.Now()
	res, err := Publish(ctx, sess, src, PublishOptions{Window: *window, Priority: *prio, PriorityLane: *lane}, func(line int, perr error) {
		fmt.Fprintf(e.Stderr, "line %d: %v\n", line, perr)
	}, func() {
		if bar != nil {
			_ = bar.Add(1)
		}
	})
	if bar != nil {
		_ = bar.Finish()
	}
	elapsed := time.Since(start)
	fmt.Fprintf(e.Stdout, "published %d task(s) in %s: %d confirmed, %d failed, %d invalid\n",
		res.Confirmed+res.Failed+res.Invalid, elapsed.Round(time.Millisecond), res.Confirmed, res.Failed, res.Invalid)
	if err != nil {
		return err
	}
	if res.Failed > 0 || res.Invalid > 0 {
		return fmt.Errorf("%d publish(es) failed, %d invalid task(s)", res.Failed, res.Invalid)
	}
	return nil
}

// source yields task bodies.
type source interface {
	// next returns the next body, its line number, and a parse error for a
	// bad record; io.EOF at the end.
	next() (body []byte, line int, err error)
	size() int64
	close()
}

// PublishOptions tune Publish.
type PublishOptions struct {
	// Window is the number of unconfirmed publishes in flight.
	Window int
	// Priority is given to tasks that carry none (0: leave them).
	Priority int
	// PriorityLane: tasks with at least this priority are routed to the
	// priority lane (0: never).
	PriorityLane int
}

// errBadRecord wraps a record that cannot be turned into a task.
var errBadRecord = errors.New("bad record")

// Publish publishes every task of src to the work exchange, persistent and
// mandatory, keeping at most window publishes unconfirmed. Invalid tasks are
// reported through onInvalid and not published.
func Publish(ctx context.Context, sess *broker.Session, src source, opts PublishOptions,
	onInvalid func(line int, err error), onDone func()) (PublishResult, error) {
	window, priority := opts.Window, opts.Priority
	var res PublishResult
	pending := make([]*broker.Pending, 0, window)
	settle := func(p *broker.Pending) {
		if err := p.Wait(ctx); err != nil {
			res.Failed++
		} else {
			res.Confirmed++
		}
		onDone()
	}
	for {
		if ctx.Err() != nil {
			break
		}
		body, line, err := src.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, errBadRecord) {
			return res, err
		}
		var t task.Task
		if err == nil {
			t, err = task.Parse(body, "application/json", 0)
		}
		if err != nil {
			res.Invalid++
			onInvalid(line, err)
			onDone()
			continue
		}
		if priority > 0 && !hasPriority(body) {
			t.Priority = priority
			body = withPriority(body, priority)
		}
		msg := amqp.Publishing{
			ContentType:  "application/json",
			DeliveryMode: amqp.Persistent,
			Priority:     uint8(t.Priority),
			MessageId:    t.TrackID,
			Timestamp:    time.Now().UTC(),
			AppId:        "enrichctl",
			Body:         body,
		}
		if len(pending) == window {
			settle(pending[0])
			pending = pending[1:]
		}
		key := broker.RoutingKey
		if opts.PriorityLane > 0 && t.Priority >= opts.PriorityLane {
			key = broker.PriorityRoutingKey
		}
		p, err := sess.PublishAsync(ctx, broker.Exchange, key, msg)
		if err != nil {
			res.Failed++
			onDone()
			for _, p := range pending {
				settle(p)
			}
			return res, err
		}
		pending = append(pending, p)
	}
	for _, p := range pending {
		settle(p)
	}
	return res, ctx.Err()
}

func hasPriority(body []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return false
	}
	v, ok := m["priority"]
	return ok && string(v) != "null"
}

func withPriority(body []byte, p int) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	m["priority"] = json.RawMessage(strconv.Itoa(p))
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

type sliceSource struct {
	bodies [][]byte
	i      int
}

func (s *sliceSource) next() ([]byte, int, error) {
	if s.i >= len(s.bodies) {
		return nil, 0, io.EOF
	}
	s.i++
	return s.bodies[s.i-1], s.i, nil
}
func (s *sliceSource) size() int64 { return int64(len(s.bodies)) }
func (s *sliceSource) close()      {}

func openSource(path string, e Env) (source, error) {
	var r io.ReadCloser
	n := int64(-1)
	if path == "-" {
		r = io.NopCloser(os.Stdin)
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		r = f
		if c, err := countLines(path); err == nil {
			n = c
		}
	}
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		cr := csv.NewReader(r)
		cr.FieldsPerRecord = -1
		header, err := cr.Read()
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("read CSV header of %s: %w", path, err)
		}
		for i := range header {
			header[i] = strings.TrimSpace(strings.TrimPrefix(header[i], "\ufeff"))
		}
		if n > 0 {
			n--
		}
		return &csvSource{r: r, cr: cr, header: header, n: n, line: 1}, nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), task.MaxBodyBytes+1024)
	return &jsonlSource{r: r, sc: sc, n: n}, nil
}

func countLines(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), task.MaxBodyBytes+1024)
	var n int64
	for sc.Scan() {
		if len(strings.TrimSpace(sc.Text())) > 0 {
			n++
		}
	}
	return n, sc.Err()
}

type jsonlSource struct {
	r    io.ReadCloser
	sc   *bufio.Scanner
	n    int64
	line int
}

func (s *jsonlSource) next() ([]byte, int, error) {
	for s.sc.Scan() {
		s.line++
		b := []byte(strings.TrimSpace(s.sc.Text()))
		if len(b) == 0 {
			continue
		}
		return b, s.line, nil
	}
	if err := s.sc.Err(); err != nil {
		return nil, s.line + 1, fmt.Errorf("read line %d: %w", s.line+1, err)
	}
	return nil, s.line, io.EOF
}
func (s *jsonlSource) size() int64 { return s.n }
func (s *jsonlSource) close()      { _ = s.r.Close() }

type csvSource struct {
	r      io.ReadCloser
	cr     *csv.Reader
	header []string
	n      int64
	line   int
}

// intColumns are CSV columns sent as JSON integers.
var intColumns = map[string]bool{"duration_ms": true, "priority": true}

func (s *csvSource) next() ([]byte, int, error) {
	rec, err := s.cr.Read()
	s.line++
	if errors.Is(err, io.EOF) {
		return nil, s.line, io.EOF
	}
	if err != nil {
		return nil, s.line, fmt.Errorf("%w: %v", errBadRecord, err)
	}
	m := make(map[string]any, len(rec))
	for i, v := range rec {
		if i >= len(s.header) || s.header[i] == "" {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		col := s.header[i]
		switch {
		case intColumns[col]:
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, s.line, fmt.Errorf("%w: %s %q is not an integer", errBadRecord, col, v)
			}
			m[col] = n
		case col == "force_refresh":
			m[col] = v == "true" || v == "1"
		default:
			m[col] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, s.line, fmt.Errorf("%w: %v", errBadRecord, err)
	}
	return b, s.line, nil
}
func (s *csvSource) size() int64 { return s.n }
func (s *csvSource) close()      { _ = s.r.Close() }
