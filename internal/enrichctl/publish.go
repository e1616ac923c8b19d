package enrichctl

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/spf13/cobra"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/task"
)

// PublishWindowDefault is the number of unconfirmed publishes in flight.
const PublishWindowDefault = 256

// PriorityLaneDefault is the least priority published to the priority lane
// (routing key enrich.priority), which workers serve before the backlog.
const PriorityLaneDefault = 8

// maxPublishLine is the longest input line publish reads into memory. A
// task line longer than task.MaxBodyBytes is rejected anyway; the margin
// is for lines of a DLQ export, whose JSON escaping makes a body longer.
// A line longer than this is consumed without being held and rejected.
const maxPublishLine = 1 << 20

func init() { register(newPublishCmd) }

// taskOptions shape the messages publish sends.
type taskOptions struct {
	// priority is given to tasks that carry none (0: leave them).
	priority int
	// lane: tasks with at least this priority are routed to the priority
	// lane (0: never).
	lane int
}

// taskRecord turns a task body into a record: validated exactly as a
// worker will, given the default priority, routed by priority.
func taskRecord(line int, body []byte, contentType string, o taskOptions) pubRecord {
	rec := pubRecord{line: line, exchange: broker.Exchange, key: broker.RoutingKey}
	if len(body) > task.MaxBodyBytes {
		rec.err = fmt.Errorf("the task is %d bytes, more than the %d bytes a task message may have", len(body), task.MaxBodyBytes)
		return rec
	}
	if contentType == "" {
		contentType = "application/json"
	}
	t, err := task.Parse(body, contentType, 0)
	if err != nil {
		rec.err = err
		return rec
	}
	rec.warnings = t.Warnings
	if o.priority > 0 && !hasPriority(body) {
		t.Priority = o.priority
		body = withPriority(body, o.priority)
	}
	if o.lane > 0 && t.Priority >= o.lane {
		rec.key = broker.PriorityRoutingKey
	}
	rec.msg = amqp.Publishing{
		ContentType:  contentType,
		DeliveryMode: amqp.Persistent,
		Priority:     uint8(t.Priority),
		MessageId:    t.TrackID,
		Timestamp:    time.Now().UTC(),
		AppId:        "enrichctl",
		Body:         body,
	}
	return rec
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

// jsonlTasks reads one task per line. A line that is a `dlq export` record
// publishes that record's body as a fresh task.
type jsonlTasks struct {
	lr *lineReader
	o  taskOptions
}

func (s *jsonlTasks) next() (pubRecord, error) {
	for {
		text, n, err := s.lr.next()
		line := s.lr.line
		switch {
		case errors.Is(err, errLineTooLong):
			return pubRecord{line: line, err: fmt.Errorf("the line is %d bytes, more than the %d bytes a task message may have", n, task.MaxBodyBytes)}, nil
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
		if isExportLine(text) {
			x, err := decodeExportRecord(text)
			if err != nil {
				return pubRecord{line: line, err: err}, nil
			}
			return taskRecord(line, x.body, x.msg.ContentType, s.o), nil
		}
		return taskRecord(line, bytes.Clone(text), "application/json", s.o), nil
	}
}
func (s *jsonlTasks) pos() inputPos { return s.lr.pos() }
func (s *jsonlTasks) close()        { s.lr.close() }

// csvColumns are the columns a CSV input may have: the task's fields.
var csvColumns = []string{"track_id", "artist", "title", "priority", "spotify_id", "isrc", "musicbrainz_id",
	"discogs_release_id", "duration_ms", "force_refresh", "source", "correlation_id", "queued_at"}

// csvTasks reads a CSV file with a header row, one record per line, each
// line parsed by encoding/csv on its own. A record is never allowed to run
// over a line break: an unbalanced quote then spoils its own line only,
// which is rejected with its number, instead of swallowing the lines after
// it (names and titles have no line breaks).
type csvTasks struct {
	lr     *lineReader
	o      taskOptions
	header []string
}

// openCSV reads and checks the header: every column is known, none
// repeats, and track_id, artist and title are there.
func openCSV(lr *lineReader, o taskOptions) (*csvTasks, error) {
	text, _, err := lr.next()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("CSV: the file is empty, want a header row (track_id,artist,title,...)")
	}
	if err != nil {
		return nil, fmt.Errorf("CSV header: %w", err)
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(text, utf8BOM)))
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("CSV header (line 1): %w", err)
	}
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		header[i] = h
		switch {
		case !slices.Contains(csvColumns, h):
			return nil, fmt.Errorf("CSV header (line 1): unknown column %q; the columns are %s", Escape(h), strings.Join(csvColumns, ", "))
		case seen[h]:
			return nil, fmt.Errorf("CSV header (line 1): column %q appears twice", h)
		}
		seen[h] = true
	}
	for _, need := range []string{"track_id", "artist", "title"} {
		if !seen[need] {
			return nil, fmt.Errorf("CSV header (line 1): column %s is missing (got %s)", need, strings.Join(header, ","))
		}
	}
	return &csvTasks{lr: lr, o: o, header: header}, nil
}

func (s *csvTasks) next() (pubRecord, error) {
	for {
		text, n, err := s.lr.next()
		line := s.lr.line
		switch {
		case errors.Is(err, errLineTooLong):
			return pubRecord{line: line, err: fmt.Errorf("the line is %d bytes, more than the %d bytes a task message may have", n, task.MaxBodyBytes)}, nil
		case err != nil:
			return pubRecord{}, err
		}
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		return s.record(line, text), nil
	}
}

func (s *csvTasks) record(line int, text []byte) pubRecord {
	bad := func(format string, args ...any) pubRecord {
		return pubRecord{line: line, err: fmt.Errorf(format, args...)}
	}
	r := csv.NewReader(bytes.NewReader(text))
	r.FieldsPerRecord = len(s.header)
	fields, err := r.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				return bad("CSV: %d fields, the header has %d", len(fields), len(s.header))
			}
			return bad("CSV: column %d: %v (a record must be on one line, with its quotes balanced)", pe.Column, pe.Err)
		}
		return bad("CSV: %v", err)
	}
	var t task.Task
	for i, v := range fields {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		col := s.header[i]
		switch col {
		case "track_id":
			t.TrackID = v
		case "artist":
			t.Artist = v
		case "title":
			t.Title = v
		case "spotify_id":
			t.SpotifyID = v
		case "isrc":
			t.ISRC = v
		case "musicbrainz_id":
			t.MusicBrainzID = v
		case "source":
			t.Source = v
		case "correlation_id":
			t.CorrelationID = v
		case "queued_at":
			t.QueuedAt = v
		case "discogs_release_id":
			id, ok := task.NormalizeDiscogsReleaseID(v)
			if !ok {
				return bad("discogs_release_id %q is not a release number", Escape(v))
			}
			t.DiscogsReleaseID = id
		case "priority", "duration_ms":
			n, err := strconv.Atoi(v)
			if err != nil {
				return bad("%s %q is not an integer", col, Escape(v))
			}
			if col == "priority" {
				t.Priority = n
				if n == 0 {
					return bad("priority must be from %d to %d, got 0", task.PriorityMin, task.PriorityMax)
				}
			} else {
				t.DurationMS = n
			}
		case "force_refresh":
			switch strings.ToLower(v) {
			case "true", "1":
				t.ForceRefresh = true
			case "false", "0":
			default:
				return bad("force_refresh %q is not true, false, 1 or 0", Escape(v))
			}
		}
	}
	body, parsed, err := task.Encode(t)
	if err != nil {
		return bad("%v", err)
	}
	rec := taskRecord(line, body, "application/json", s.o)
	rec.warnings = parsed.Warnings
	return rec
}
func (s *csvTasks) pos() inputPos { return s.lr.pos() }
func (s *csvTasks) close()        { s.lr.close() }

// oneTask is the single task given by flags.
type oneTask struct {
	rec  pubRecord
	done bool
}

func (s *oneTask) next() (pubRecord, error) {
	if s.done {
		return pubRecord{}, io.EOF
	}
	s.done = true
	return s.rec, nil
}
func (s *oneTask) pos() inputPos {
	if s.done {
		return inputPos{line: 1}
	}
	return inputPos{}
}
func (s *oneTask) close() {}

// inputFormat picks jsonl or csv for a --format and a file name.
func inputFormat(format, path string) (string, error) {
	switch format {
	case "jsonl", "csv":
		return format, nil
	case "", "auto":
		if strings.EqualFold(filepath.Ext(path), ".csv") {
			return "csv", nil
		}
		return "jsonl", nil
	}
	return "", usageErr("--format must be auto, jsonl or csv, got %q", format)
}

func newPublishCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "publish",
		Short: "Publish tasks from a JSONL or CSV file, or one task from flags",
		Long: "publish sends tasks to the " + broker.Exchange + " exchange, persistent, mandatory and with\n" +
			"publisher confirms. Input:\n" +
			"  --file tracks.jsonl   one task per line (a line of `dlq export` output publishes its body);\n" +
			"                        - reads stdin\n" +
			"  --file tracks.csv     a header row (track_id,artist,title and any other task field), one\n" +
			"                        record per line, parsed with encoding/csv\n" +
			"  --track-id ID --artist A --title T [...]   one task\n\n" +
			"Every record is checked as a worker will check it. A bad one (also a line of any length\n" +
			"over the 64 KiB message limit) is reported with its line number and not published; the\n" +
			"others go on. The summary counts what the broker confirmed. The first publish that is not\n" +
			"confirmed (connection lost, queue missing, refused) stops the run; with --state FILE the\n" +
			"same command resumes after the last confirmed line, even from stdin.",
		Example: "  enrichctl publish --file tracks.jsonl --state tracks.state.json\n" +
			"  enrichctl publish --track-id set1-07 --artist Bicep --title \"Apricots (Extended Mix)\"",
		Args: noArgs,
	}
	fl := cmd.Flags()
	file := fl.String("file", "", "JSONL or CSV input; - for stdin")
	format := fl.String("format", "auto", "input format: auto (by the file's extension), jsonl or csv")
	window := fl.Int("window", PublishWindowDefault, "unconfirmed publishes in flight")
	prio := fl.Int("priority", 0, "priority 1..10 for tasks that carry none (0: leave them to the worker's default)")
	lane := fl.Int("priority-lane", PriorityLaneDefault, "tasks with at least this priority go to the priority lane (0: never)")
	statePath := fl.String("state", "", "state file that makes the run resumable (created if missing)")
	dryRun := fl.Bool("dry-run", false, "only check the input; publish nothing")
	quiet := fl.Bool("quiet", false, "no progress bar")
	amqpURL := a.urlFlag(cmd, "amqp-url", "AMQP_URL", "broker URL")
	one := map[string]*string{}
	for _, f := range []string{"track-id", "artist", "title", "isrc", "spotify-id", "musicbrainz-id", "discogs-release-id", "source", "correlation-id"} {
		one[f] = fl.String(f, "", "single task: "+strings.ReplaceAll(f, "-", "_"))
	}
	durationMS := fl.Int("duration-ms", 0, "single task: duration_ms")
	force := fl.Bool("force-refresh", false, "single task: force_refresh")
	out := addOutput(cmd)
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"auto", "jsonl", "csv"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagFilename("file", "jsonl", "csv")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		switch {
		case *window < 1 || *window > 10000:
			return usageErr("--window must be in [1, 10000], got %d", *window)
		case *prio < 0 || *prio > task.PriorityMax:
			return usageErr("--priority must be in [1, 10], got %d", *prio)
		case *lane < 0 || *lane > task.PriorityMax:
			return usageErr("--priority-lane must be in [0, 10], got %d", *lane)
		}
		single := false
		for _, v := range one {
			single = single || *v != ""
		}
		single = single || *durationMS != 0 || *force
		to := taskOptions{priority: *prio, lane: *lane}
		opts := publishOptions{Command: "publish", Window: *window, StatePath: *statePath, DryRun: *dryRun}
		var src recordSource
		switch {
		case *file != "" && single:
			return usageErr("give --file or the single-task flags (--track-id ...), not both")
		case *file != "":
			f, err := inputFormat(*format, *file)
			if err != nil {
				return err
			}
			opts.Input, opts.Format = *file, f
			lr, err := openInput(*file, a.env.Stdin, maxPublishLine, *statePath != "")
			if err != nil {
				return err
			}
			if f == "csv" {
				s, err := openCSV(lr, to)
				if err != nil {
					lr.close()
					return err
				}
				src = s
			} else {
				src = &jsonlTasks{lr: lr, o: to}
			}
		case single:
			if *statePath != "" {
				return usageErr("--state is for --file")
			}
			if *one["track-id"] == "" || *one["artist"] == "" || *one["title"] == "" {
				return usageErr("a single task needs --track-id, --artist and --title")
			}
			t := task.Task{TrackID: *one["track-id"], Artist: *one["artist"], Title: *one["title"],
				ISRC: *one["isrc"], SpotifyID: *one["spotify-id"], MusicBrainzID: *one["musicbrainz-id"],
				Source: *one["source"], CorrelationID: *one["correlation-id"], DurationMS: *durationMS, ForceRefresh: *force}
			if v := *one["discogs-release-id"]; v != "" {
				id, ok := task.NormalizeDiscogsReleaseID(v)
				if !ok {
					return usageErr("--discogs-release-id %q is not a release number", v)
				}
				t.DiscogsReleaseID = id
			}
			body, parsed, err := task.Encode(t)
			if err != nil {
				return usageErr("%v", err)
			}
			rec := taskRecord(1, body, "application/json", to)
			rec.warnings = parsed.Warnings
			src = &oneTask{rec: rec}
			opts.Input, opts.Format = "(flags)", "flags"
		default:
			return usageErr("publish needs --file or --track-id, --artist and --title")
		}
		defer src.close()
		return a.runPublishCommand(src, opts, amqpURL, out, *quiet, *file)
	}
	return cmd
}
