package enrichctl

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/djmeta/enrichment/internal/broker"
)

const (
	publishStateVersion = 1
	// publishSaveEvery is how often a run with --state saves its cursor.
	publishSaveEvery = time.Second
	// maxProblems is how many problems a JSON report lists (stderr gets all).
	maxProblems = 1000
)

// publishState is the resumable progress of a publish (or dlq import) of
// one input, kept in the --state file.
type publishState struct {
	Version   int       `json:"version"`
	Command   string    `json:"command"`
	Input     string    `json:"input"` // as given, for the operator; the hash is what is checked
	Format    string    `json:"format"`
	StartedAt time.Time `json:"started_at"`
	// Cursor is a line such that every record on it and before it is
	// settled: confirmed by the broker, or invalid and reported.
	Cursor       int   `json:"cursor_line"`
	CursorOffset int64 `json:"cursor_offset"`
	// PrefixSHA256 is the SHA-256 of the input's first CursorOffset bytes:
	// a resumed run checks it, so it never skips lines of another input.
	PrefixSHA256 string `json:"prefix_sha256"`
	// Skip lists lines after Cursor already confirmed: non-empty only after
	// a publish failed while later ones were confirmed.
	Skip      []int     `json:"skip_lines,omitempty"`
	Confirmed int64     `json:"confirmed"`
	Invalid   int64     `json:"invalid"`
	Done      bool      `json:"done"`
	UpdatedAt time.Time `json:"updated_at"`
}

// publishOptions configure runPublish.
type publishOptions struct {
	Command       string // publish, dlq import
	Input, Format string
	Window        int
	StatePath     string
	DryRun        bool
	// onSettled is called for every record settled (progress);
	// onProblem for every invalid or failed record and every warning.
	onSettled func()
	onProblem func(problem)
}

// problem is a record that was not published, or a warning about one.
type problem struct {
	Line    int    `json:"line"`
	Error   string `json:"error"`
	Warning bool   `json:"warning,omitempty"`
}

// publishResult is what one invocation did.
type publishResult struct {
	Command string `json:"command"`
	Input   string `json:"input"`
	DryRun  bool   `json:"dry_run,omitempty"`
	// Records were read in this invocation (after the state's cursor).
	Records   int `json:"records"`
	Confirmed int `json:"confirmed"` // confirmed by the broker in this invocation
	Valid     int `json:"valid,omitempty"`
	Invalid   int `json:"invalid"`
	Failed    int `json:"failed"` // sent but not confirmed, or not sent
	// Skipped records were confirmed by an earlier invocation (--state).
	Skipped int `json:"already_published"`
	// Complete: every record of the input is settled.
	Complete        bool `json:"complete"`
	AlreadyComplete bool `json:"already_complete,omitempty"`
	Resumed         bool `json:"resumed,omitempty"`
	ResumedAfter    int  `json:"resumed_after_line,omitempty"`
	// StoppedAt is the first line not confirmed when a failure stopped the
	// run; LastLine the last line read.
	StoppedAt int    `json:"stopped_at_line,omitempty"`
	LastLine  int    `json:"last_line_read"`
	State     string `json:"state_file,omitempty"`
	// TotalConfirmed counts over every invocation of the state file.
	TotalConfirmed  int64     `json:"total_confirmed"`
	ElapsedSeconds  float64   `json:"elapsed_seconds"`
	Problems        []problem `json:"problems"`
	ProblemsOmitted int       `json:"problems_omitted,omitempty"`
}

// pubEntry is one record in the confirm window.
type pubEntry struct {
	line    int
	pos     inputPos
	skipped bool
}

// runPublish publishes every record of src through one confirm window.
// Outcomes are taken in input order: the cursor moves past a record only
// once it is confirmed (or reported invalid), so the state saved with
// --state is always a prefix of the input that is done. The first publish
// that is not confirmed stops the run: what was sent is still settled, the
// state saved, and the error returned; confirmed records after the failed
// one are remembered in the state's skip list.
func runPublish(ctx context.Context, sess *broker.Session, src recordSource, o publishOptions) (publishResult, error) {
	res := publishResult{Command: o.Command, Input: o.Input, DryRun: o.DryRun, State: o.StatePath, Problems: []problem{}}
	report := func(p problem) {
		if len(res.Problems) < maxProblems {
			res.Problems = append(res.Problems, p)
		} else {
			res.ProblemsOmitted++
		}
		if o.onProblem != nil {
			o.onProblem(p)
		}
	}
	state := publishState{Version: publishStateVersion, Command: o.Command, Input: o.Input, Format: o.Format, StartedAt: time.Now().UTC()}
	useState := o.StatePath != "" && !o.DryRun
	if useState {
		var saved publishState
		ok, err := readStateFile(o.StatePath, &saved)
		if err != nil {
			return res, err
		}
		if ok {
			switch {
			case saved.Version != publishStateVersion:
				return res, fmt.Errorf("state file %s: version %d, want %d", o.StatePath, saved.Version, publishStateVersion)
			case saved.Command != o.Command || saved.Format != o.Format:
				return res, usageErr("state file %s belongs to a %s of %s input, not a %s of %s input: use another --state file or delete it",
					o.StatePath, saved.Command, saved.Format, o.Command, o.Format)
			}
			state, res.Resumed, res.ResumedAfter = saved, true, saved.Cursor
		}
	}
	res.TotalConfirmed = state.Confirmed
	if state.Done {
		res.Complete, res.AlreadyComplete = true, true
		return res, nil
	}
	skip := make(map[int]bool, len(state.Skip))
	for _, l := range state.Skip {
		skip[l] = true
	}

	var (
		failure error
		blocked int // the first line not confirmed: the cursor stays before it
		newSkip []int
	)
	fail := func(err error) {
		if failure == nil {
			failure = err
		}
	}
	w := broker.NewWindow(sess, o.Window, func(out broker.Outcome[pubEntry]) {
		e := out.Tag
		if o.onSettled != nil {
			o.onSettled()
		}
		switch {
		case e.skipped:
			res.Skipped++
		case !out.Published:
			res.Invalid++
		case out.Err != nil:
			res.Failed++
			report(problem{Line: e.line, Error: "not confirmed by the broker: " + out.Err.Error()})
			if blocked == 0 {
				blocked = e.line
				fail(fmt.Errorf("line %d not confirmed: %w", e.line, out.Err))
			}
			return
		default:
			res.Confirmed++
			state.Confirmed++
		}
		switch {
		case blocked == 0:
			state.Cursor, state.CursorOffset, state.PrefixSHA256 = e.line, e.pos.offset, hex.EncodeToString(e.pos.sum)
			if !out.Published && !e.skipped {
				state.Invalid++
			}
		case out.Published && out.Err == nil:
			newSkip = append(newSkip, e.line)
		}
	})
	save := func() error {
		if !useState {
			return nil
		}
		state.Skip = nil
		if !state.Done {
			state.Skip = append(append(state.Skip, newSkip...), slices.Sorted(maps.Keys(skip))...)
		}
		state.UpdatedAt = time.Now().UTC()
		return writeStateFile(o.StatePath, state)
	}

	verified := state.Cursor == 0
	eof := false
	lastSave := time.Now()
	for failure == nil && ctx.Err() == nil {
		rec, err := src.next()
		if errors.Is(err, io.EOF) {
			eof = true
			break
		}
		if err != nil {
			fail(err)
			break
		}
		p := src.pos()
		res.LastLine = p.line
		if !verified {
			if p.line < state.Cursor {
				continue // settled by an earlier invocation
			}
			if p.line != state.Cursor || p.offset != state.CursorOffset || hex.EncodeToString(p.sum) != state.PrefixSHA256 {
				return res, fmt.Errorf("the input is not the one state file %s was written for: its first %d line(s) differ; use another --state file or delete it",
					o.StatePath, state.Cursor)
			}
			verified = true
			continue
		}
		if skip[rec.line] {
			delete(skip, rec.line)
			w.Add(pubEntry{line: rec.line, pos: p, skipped: true}, nil)
			continue
		}
		res.Records++
		for _, msg := range rec.warnings {
			report(problem{Line: rec.line, Error: msg, Warning: true})
		}
		if rec.err != nil {
			report(problem{Line: rec.line, Error: rec.err.Error()})
			w.Add(pubEntry{line: rec.line, pos: p}, rec.err)
			continue
		}
		if o.DryRun {
			res.Valid++
			continue
		}
		if err := w.Publish(ctx, rec.exchange, rec.key, rec.msg, pubEntry{line: rec.line, pos: p}); err != nil {
			break // reported in order by the window
		}
		if useState && time.Since(lastSave) >= publishSaveEvery {
			if err := save(); err != nil {
				fail(err)
			}
			lastSave = time.Now()
		}
	}
	w.Flush()
	if eof && !verified {
		fail(fmt.Errorf("the input ends before line %d, the cursor of state file %s: it is not the same input; use another --state file or delete it",
			state.Cursor, o.StatePath))
	}
	res.StoppedAt = blocked
	res.Complete = eof && verified && failure == nil && blocked == 0
	state.Done = res.Complete
	res.TotalConfirmed = state.Confirmed
	if err := save(); err != nil {
		fail(err)
	}
	if failure == nil && !res.Complete && ctx.Err() != nil {
		failure = fmt.Errorf("%s interrupted: %w", o.Command, ctx.Err())
	}
	return res, failure
}

// runPublishCommand runs a publish-like command (publish, dlq import): it
// connects, shows progress, runs, and reports.
func (a *app) runPublishCommand(src recordSource, o publishOptions, amqpURL *envURL, out *output, quiet bool, file string) error {
	var sess *broker.Session
	if !o.DryRun {
		s, err := a.dial(amqpURL, "enrichctl-"+strings.ReplaceAll(o.Command, " ", "-"))
		if err != nil {
			return err
		}
		defer s.Close()
		sess = s
	}
	o.onProblem = func(p problem) {
		kind := ""
		if p.Warning {
			kind = "warning: "
		}
		fmt.Fprintf(a.env.Stderr, "line %d: %s%s\n", p.Line, kind, Escape(p.Error))
	}
	var bar *progressbar.ProgressBar
	if a.env.Interactive && !quiet && file != "" && file != "-" {
		bar = progressbar.NewOptions64(countLines(file), progressbar.OptionSetWriter(a.env.Stderr),
			progressbar.OptionSetDescription(o.Command), progressbar.OptionShowCount(),
			progressbar.OptionShowIts(), progressbar.OptionSetItsString("records"),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
		o.onSettled = func() { _ = bar.Add(1) }
	}
	start := time.Now()
	res, err := runPublish(a.ctx, sess, src, o)
	if bar != nil {
		_ = bar.Finish()
	}
	res.ElapsedSeconds = time.Since(start).Seconds()
	if err == nil && res.Invalid > 0 {
		err = fmt.Errorf("%d invalid record(s) not published (their lines are listed above)", res.Invalid)
	}
	if out.json() {
		if werr := writeJSON(a.env.Stdout, res); werr != nil {
			return errors.Join(err, werr)
		}
		return err
	}
	fmt.Fprintln(a.env.Stdout, publishSummary(res, time.Since(start)))
	return err
}

// publishSummary is the final line of a publish-like command.
func publishSummary(r publishResult, elapsed time.Duration) string {
	var b strings.Builder
	if r.AlreadyComplete {
		fmt.Fprintf(&b, "%s: the run in state file %s is already complete (%d confirmed); nothing published (delete the file to publish again)",
			r.Command, r.State, r.TotalConfirmed)
		return b.String()
	}
	if r.DryRun {
		fmt.Fprintf(&b, "%s (dry run): %d record(s), %d valid, %d invalid; nothing published", r.Command, r.Records, r.Valid, r.Invalid)
		return b.String()
	}
	fmt.Fprintf(&b, "%s: %d confirmed, %d invalid, %d failed", r.Command, r.Confirmed, r.Invalid, r.Failed)
	if r.Skipped > 0 {
		fmt.Fprintf(&b, ", %d already published", r.Skipped)
	}
	fmt.Fprintf(&b, " of %d record(s) in %s", r.Records+r.Skipped, elapsed.Round(time.Millisecond))
	if r.Resumed {
		fmt.Fprintf(&b, " (resumed after line %d; %d confirmed over the whole run)", r.ResumedAfter, r.TotalConfirmed)
	}
	switch {
	case r.Complete:
		b.WriteString("; complete")
	case r.StoppedAt > 0 && r.State != "":
		fmt.Fprintf(&b, "; stopped at line %d, the first not confirmed: rerun the same command (--state %s) to resume there", r.StoppedAt, r.State)
	case r.StoppedAt > 0:
		fmt.Fprintf(&b, "; stopped at line %d, the first not confirmed (lines before it are confirmed; use --state to make runs resumable)", r.StoppedAt)
	case r.State != "":
		fmt.Fprintf(&b, "; stopped after line %d: rerun the same command (--state %s) to resume", r.LastLine, r.State)
	default:
		fmt.Fprintf(&b, "; stopped after line %d (use --state to make runs resumable)", r.LastLine)
	}
	return b.String()
}
