package enrichctl

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/store"
	"github.com/djmeta/enrichment/internal/task"
)

// Backfill defaults.
const (
	// BackfillPriorityDefault is low, so that fresh tasks (priority 5 by
	// default) overtake a backfill.
	BackfillPriorityDefault = 2
	// BackfillMaxRateDefault is the publish rate limit in tasks per second.
	// A backfill should not run far ahead of what the fleet completes: the
	// backlog delays retried tasks, which rejoin the work queue at its tail.
	BackfillMaxRateDefault = 50.0
	// BackfillBatchDefault is the number of tracks read per keyset page; the
	// state file is written once per page.
	BackfillBatchDefault = 500
	// settleTimeout bounds the wait for outstanding confirms after
	// an interruption.
	settleTimeout        = 30 * time.Second
	backfillStateVersion = 1
	maxInvalidReports    = 20
)

// backfillSelection is the selection as given on the command line. It is
// stored in the state file so that a resumed run selects the same tracks.
type backfillSelection struct {
	Missing           bool   `json:"missing"`
	Partial           bool   `json:"partial"`
	NotFoundOlderThan string `json:"not_found_older_than,omitempty"`
	OlderThan         string `json:"older_than,omitempty"`
}

func (s backfillSelection) String() string {
	var parts []string
	if s.Missing {
		parts = append(parts, "never enriched")
	}
	if s.Partial {
		parts = append(parts, "partial")
	}
	if s.NotFoundOlderThan != "" {
		parts = append(parts, "not_found older than "+s.NotFoundOlderThan)
	}
	if s.OlderThan != "" {
		parts = append(parts, "enriched more than "+s.OlderThan+" ago")
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, " or ")
}

// filter turns the selection into absolute cutoffs relative to start, the
// time the run (not this invocation) began.
func (s backfillSelection) filter(start time.Time) (store.BackfillFilter, error) {
	f := store.BackfillFilter{Missing: s.Missing, Partial: s.Partial}
	for _, c := range []struct {
		v   string
		dst *time.Time
	}{{s.NotFoundOlderThan, &f.NotFoundBefore}, {s.OlderThan, &f.EnrichedBefore}} {
		if c.v == "" {
			continue
		}
		d, err := parseAge(c.v)
		if err != nil {
			return store.BackfillFilter{}, err
		}
		*c.dst = start.Add(-d)
	}
	if f.Empty() {
		return store.BackfillFilter{}, fmt.Errorf("%w: backfill selects nothing: keep --missing or add --partial, --not-found-older-than or --older-than", ErrUsage)
	}
	return f, nil
}

// parseAge parses a Go duration ("36h", "90m") or a whole number of days
// ("30d"); 0s selects every row written before the run started.
func parseAge(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("%w: %q is not a duration such as 30d, 36h or 90m", ErrUsage, s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%w: %q is not a duration such as 30d, 36h or 90m", ErrUsage, s)
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("%w: duration %q must not be negative", ErrUsage, s)
	}
	return d, nil
}

// backfillState is the resumable progress of one backfill run, kept in the
// --state file.
type backfillState struct {
	Version   int               `json:"version"`
	RunID     string            `json:"run_id"`
	StartedAt time.Time         `json:"started_at"`
	Selection backfillSelection `json:"selection"`
	// Cursor is the last tracks.id handled: every selected track up to it
	// (in the database's order) is published or was invalid.
	Cursor string `json:"cursor"`
	// Skip lists tracks after Cursor already published: it is non-empty only
	// after a publish failed while later ones were confirmed.
	Skip      []string  `json:"skip,omitempty"`
	Published int64     `json:"published"`
	Invalid   int64     `json:"invalid"`
	Done      bool      `json:"done"`
	UpdatedAt time.Time `json:"updated_at"`
}

func newBackfillState(sel backfillSelection, now time.Time) backfillState {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return backfillState{Version: backfillStateVersion, RunID: hex.EncodeToString(b), StartedAt: now.UTC(), Selection: sel}
}

// loadBackfillState reads path; ok is false when it does not exist.
func loadBackfillState(path string) (st backfillState, ok bool, err error) {
	if ok, err = readStateFile(path, &st); err != nil || !ok {
		return backfillState{}, ok, err
	}
	if st.Version != backfillStateVersion {
		return backfillState{}, false, fmt.Errorf("backfill state %s: version %d, want %d", path, st.Version, backfillStateVersion)
	}
	return st, true, nil
}

// save writes the state atomically (temporary file, fsync, rename).
func (st *backfillState) save(path string) error {
	st.UpdatedAt = time.Now().UTC()
	return writeStateFile(path, st)
}

// newLimiter paces publishes at r per second on average. Its bucket holds
// 50 ms worth of tasks (at least one) so that timer and scheduling jitter is
// made up for instead of lowering the rate, and starts empty: in any window
// of W seconds at most r×W + max(1, r/20) tasks go out. A rate <= 0 means
// unlimited.
func newLimiter(r float64) *rate.Limiter {
	if r <= 0 {
		return rate.NewLimiter(rate.Inf, 1)
	}
	burst := max(1, int(r/20))
	l := rate.NewLimiter(rate.Limit(r), burst)
	l.AllowN(time.Now(), burst)
	return l
}

// backfillOptions configures one backfill invocation.
type backfillOptions struct {
	Selection    backfillSelection
	Priority     int
	ForceRefresh bool
	MaxRate      float64 // tasks/s; <= 0: unlimited
	Batch        int     // keyset page size
	Window       int     // unconfirmed publishes in flight
	Limit        int64   // publish at most this many in this invocation; 0: all
	StatePath    string  // "": not resumable
	DryRun       bool

	// onPublish is called after each publish is sent, onConfirm after each
	// confirm; onInvalid for a track that cannot become a valid task.
	onPublish func()
	onConfirm func()
	onInvalid func(id string, err error)
	// onMatched reports how many tracks this invocation will go through
	// (selected after the cursor, capped by Limit) before publishing.
	onMatched func(n int64)
}

// backfillResult is what one invocation did.
type backfillResult struct {
	Matched   int64 // selected after the cursor when the invocation started
	Published int64 // confirmed by the broker in this invocation
	Invalid   int64
	Failed    int64
	Skipped   int64 // already published by an earlier, failed invocation
	Cursor    string
	Done      bool // the selection is exhausted
	Resumed   bool
	// AlreadyDone: the state file described a complete run; nothing was done.
	AlreadyDone bool
	// First and Last bracket the publishes (zero when none).
	First, Last time.Time
}

// backfillEntry is one handled track in the confirm window, in cursor
// order.
type backfillEntry struct {
	id      string
	skipped bool // published by an earlier invocation
}

// runBackfill selects tracks page by page (keyset on tracks.id) and
// publishes them with confirms, paced and windowed. The cursor only moves
// past a track once its publish is confirmed, and the state is saved after
// every page and at the end, so an interrupted run resumed with the same
// state file publishes every selected track exactly once. After a hard kill
// (no chance to save) up to one page plus one window may be published again.
func runBackfill(ctx context.Context, st *store.Store, sess *broker.Session, opts backfillOptions) (backfillResult, error) {
	var res backfillResult
	state := newBackfillState(opts.Selection, time.Now())
	if opts.StatePath != "" {
		saved, ok, err := loadBackfillState(opts.StatePath)
		if err != nil {
			return res, err
		}
		if ok {
			if saved.Selection != opts.Selection {
				return res, fmt.Errorf("%w: state file %s belongs to a backfill of %s, not %s: use another --state file or delete it",
					ErrUsage, opts.StatePath, saved.Selection, opts.Selection)
			}
			state, res.Resumed = saved, true
		}
	}
	res.Cursor, res.Done, res.AlreadyDone = state.Cursor, state.Done, state.Done
	if state.Done {
		return res, nil
	}
	filter, err := state.Selection.filter(state.StartedAt)
	if err != nil {
		return res, err
	}
	if res.Matched, err = st.BackfillCount(ctx, filter, state.Cursor); err != nil {
		return res, err
	}
	if opts.DryRun {
		return res, nil
	}
	if opts.onMatched != nil {
		n := res.Matched
		if opts.Limit > 0 {
			n = min(n, opts.Limit)
		}
		opts.onMatched(n)
	}
	if opts.Batch < 1 {
		opts.Batch = BackfillBatchDefault
	}
	if opts.Window < 1 {
		opts.Window = PublishWindowDefault
	}

	skip := make(map[string]bool, len(state.Skip))
	for _, id := range state.Skip {
		skip[id] = true
	}
	var (
		// blockedAt is the first track whose publish was not confirmed: the
		// cursor stays before it, and later confirmed tracks go to Skip.
		blockedAt string
		failure   error // the first error that stops the run
		newSkip   []string
		attempted int64 // publishes sent in this invocation
	)
	fail := func(err error) {
		if failure == nil {
			failure = err
		}
	}
	// The window settles what was sent also after ctx is cancelled: it must
	// be accounted for before the state is saved.
	window := broker.NewWindow(sess, opts.Window, func(o broker.Outcome[backfillEntry]) {
		e := o.Tag
		if o.Published {
			if o.Err != nil {
				res.Failed++
				if blockedAt == "" {
					blockedAt = e.id
					fail(fmt.Errorf("publish %s: %w", e.id, o.Err))
				}
				return
			}
			res.Published++
			state.Published++
			if opts.onConfirm != nil {
				opts.onConfirm()
			}
		}
		switch {
		case blockedAt == "":
			state.Cursor = e.id
		case o.Published || e.skipped:
			newSkip = append(newSkip, e.id)
		}
	})
	save := func() error {
		if opts.StatePath == "" {
			return nil
		}
		state.Skip = nil
		if !state.Done {
			state.Skip = append(append(state.Skip, newSkip...), slices.Sorted(maps.Keys(skip))...)
		}
		return state.save(opts.StatePath)
	}

	limiter := newLimiter(opts.MaxRate)
	fetchAfter := state.Cursor
	stop := false
	for !stop {
		want := opts.Batch
		if opts.Limit > 0 {
			if attempted >= opts.Limit {
				break
			}
			want = int(min(int64(want), opts.Limit-attempted))
		}
		page, err := st.BackfillPage(ctx, filter, fetchAfter, want)
		if err != nil {
			if ctx.Err() == nil {
				fail(err)
			}
			break
		}
		if len(page) == 0 {
			state.Done = true
			break
		}
		for _, tr := range page {
			if ctx.Err() != nil || failure != nil {
				stop = true
				break
			}
			fetchAfter = tr.ID
			if skip[tr.ID] {
				delete(skip, tr.ID)
				res.Skipped++
				window.Add(backfillEntry{id: tr.ID, skipped: true}, nil)
				continue
			}
			msg, err := backfillMessage(tr, opts, state.RunID)
			if err != nil {
				res.Invalid++
				state.Invalid++
				if opts.onInvalid != nil {
					opts.onInvalid(tr.ID, err)
				}
				window.Add(backfillEntry{id: tr.ID}, err)
				continue
			}
			if limiter.Wait(ctx) != nil {
				stop = true
				break
			}
			if err := window.Publish(ctx, broker.Exchange, broker.RoutingKey, msg, backfillEntry{id: tr.ID}); err != nil {
				// Not sent (or not known to be): the window reports it, and
				// the cursor stays before it.
				stop = true
				break
			}
			attempted++
			now := time.Now()
			if res.First.IsZero() {
				res.First = now
			}
			res.Last = now
			if opts.onPublish != nil {
				opts.onPublish()
			}
			if failure != nil {
				stop = true
				break
			}
		}
		if !stop {
			// The cursor saved is the confirmed prefix, at most one window
			// behind what was sent.
			if err := save(); err != nil {
				fail(err)
				break
			}
		}
	}
	window.Flush()
	if failure != nil {
		state.Done = false
	}
	res.Cursor, res.Done = state.Cursor, state.Done
	if blockedAt != "" && opts.StatePath != "" {
		failure = fmt.Errorf("%w; rerun with the same --state to retry from %s", failure, blockedAt)
	}
	if err := save(); err != nil {
		return res, errors.Join(failure, err)
	}
	if failure != nil {
		return res, failure
	}
	if err := ctx.Err(); err != nil && !state.Done {
		return res, fmt.Errorf("backfill interrupted: %w", err)
	}
	return res, nil
}

const maxHintDurationMS = 24 * 60 * 60 * 1000

// backfillMessage builds the task for a track with the producer encoder,
// which checks it exactly as a worker will: a track that cannot make a
// valid task is an error (it would only be dead-lettered); a malformed id
// hint is dropped.
func backfillMessage(tr store.BackfillTrack, opts backfillOptions, runID string) (amqp.Publishing, error) {
	now := time.Now().UTC()
	t := task.Task{
		TrackID: tr.ID, Artist: tr.Artist, Title: tr.Title, Priority: opts.Priority,
		SpotifyID: tr.SpotifyID, ISRC: tr.ISRC, MusicBrainzID: tr.MusicBrainzID,
		DiscogsReleaseID: tr.DiscogsReleaseID, ForceRefresh: opts.ForceRefresh,
		Source: "backfill", CorrelationID: "backfill-" + runID, QueuedAt: now.Format(time.RFC3339),
	}
	if tr.DurationMS > 0 && tr.DurationMS <= maxHintDurationMS {
		t.DurationMS = tr.DurationMS
	}
	body, _, err := task.Encode(t)
	if err != nil {
		return amqp.Publishing{}, err
	}
	return amqp.Publishing{
		ContentType:  "application/json",
		DeliveryMode: amqp.Persistent,
		Priority:     uint8(opts.Priority),
		MessageId:    tr.ID,
		Timestamp:    now,
		AppId:        "enrichctl-backfill",
		Body:         body,
	}, nil
}

func init() { register(newBackfillCmd) }

func newBackfillCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backfill",
		Short: "Publish tasks for tracks in Postgres that need enrichment (resumable)",
		Long: "backfill selects tracks that match any of --missing (default), --partial,\n" +
			"--not-found-older-than and --older-than, and publishes a task for each with publisher\n" +
			"confirms, paced by --max-rate. With --state FILE an interrupted run resumed with the same\n" +
			"command publishes every selected track once (docs/operations.md).",
		Example: "  enrichctl backfill --partial --not-found-older-than 30d --dry-run\n" +
			"  enrichctl backfill --missing=false --partial --state partial.json",
		Args: noArgs,
	}
	fl := cmd.Flags()
	missing := fl.Bool("missing", true, "select tracks that were never enriched (no enrichment_status row)")
	partial := fl.Bool("partial", false, "select tracks whose status is partial")
	notFound := fl.String("not-found-older-than", "", "select not_found tracks whose status is older than this (e.g. 30d, 36h)")
	olderThan := fl.String("older-than", "", "select tracks enriched longer ago than this (enrichment_timestamp)")
	prio := fl.Int("priority", BackfillPriorityDefault, "task priority 1..10")
	force := fl.Bool("force-refresh", false, "set force_refresh: bypass cached provider answers")
	maxRate := fl.Float64("max-rate", BackfillMaxRateDefault, "publish at most this many tasks per second (0: unlimited)")
	batch := fl.Int("batch", BackfillBatchDefault, "tracks read per page; the state file is saved once per page")
	window := fl.Int("window", PublishWindowDefault, "unconfirmed publishes in flight")
	limit := fl.Int64("limit", 0, "publish at most N tasks in this invocation (0: all)")
	statePath := fl.String("state", "", "state file that makes the run resumable (created if missing)")
	dryRun := fl.Bool("dry-run", false, "only count the tracks that would be published")
	quiet := fl.Bool("quiet", false, "no progress bar")
	amqpURL := a.urlFlag(cmd, "amqp-url", "AMQP_URL", "broker URL")
	dbURL := a.urlFlag(cmd, "database-url", "DATABASE_URL", "Postgres URL")
	out := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		switch {
		case *prio < task.PriorityMin || *prio > task.PriorityMax:
			return usageErr("--priority must be in [1, 10], got %d", *prio)
		case *maxRate < 0:
			return usageErr("--max-rate must not be negative, got %v", *maxRate)
		case *batch < 1 || *batch > 100000:
			return usageErr("--batch must be in [1, 100000], got %d", *batch)
		case *window < 1 || *window > 10000:
			return usageErr("--window must be in [1, 10000], got %d", *window)
		case *limit < 0:
			return usageErr("--limit must not be negative, got %d", *limit)
		}
		sel := backfillSelection{Missing: *missing, Partial: *partial}
		for _, f := range []struct {
			flag, v string
			dst     *string
		}{{"--not-found-older-than", *notFound, &sel.NotFoundOlderThan}, {"--older-than", *olderThan, &sel.OlderThan}} {
			if f.v == "" {
				continue
			}
			d, err := parseAge(f.v)
			if err != nil {
				return fmt.Errorf("%s: %w", f.flag, err)
			}
			*f.dst = d.String()
		}
		if _, err := sel.filter(time.Now()); err != nil {
			return err
		}

		st, err := a.openStore(dbURL)
		if err != nil {
			return err
		}
		defer st.Close()
		var sess *broker.Session
		if !*dryRun {
			if sess, err = a.dial(amqpURL, "enrichctl-backfill"); err != nil {
				return err
			}
			defer sess.Close()
		}

		opts := backfillOptions{
			Selection: sel, Priority: *prio, ForceRefresh: *force, MaxRate: *maxRate,
			Batch: *batch, Window: *window, Limit: *limit, StatePath: *statePath, DryRun: *dryRun,
		}
		invalid := 0
		opts.onInvalid = func(id string, err error) {
			if invalid++; invalid <= maxInvalidReports {
				fmt.Fprintf(a.env.Stderr, "track \"%s\" skipped: %s\n", Escape(id), Escape(err.Error()))
			} else if invalid == maxInvalidReports+1 {
				fmt.Fprintln(a.env.Stderr, "more tracks skipped as invalid; see the summary")
			}
		}
		var bar *progressbar.ProgressBar
		if a.env.Interactive && !*quiet {
			opts.onMatched = func(n int64) {
				bar = progressbar.NewOptions64(n, progressbar.OptionSetWriter(a.env.Stderr),
					progressbar.OptionSetDescription("backfill"), progressbar.OptionShowCount(),
					progressbar.OptionShowIts(), progressbar.OptionSetItsString("tasks"),
					progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(200*time.Millisecond),
					progressbar.OptionClearOnFinish())
			}
			opts.onConfirm = func() { _ = bar.Add(1) }
		}
		start := time.Now()
		res, err := runBackfill(a.ctx, st, sess, opts)
		if bar != nil {
			_ = bar.Finish()
		}
		elapsed := time.Since(start)
		if out.json() {
			if werr := writeJSON(a.env.Stdout, backfillReport(res, opts, elapsed)); werr != nil {
				return errors.Join(err, werr)
			}
			return err
		}
		fmt.Fprintln(a.env.Stdout, backfillSummary(res, opts, elapsed, err))
		return err
	}
	return cmd
}

// backfillJSON is backfill's -o json report.
type backfillJSON struct {
	DryRun         bool     `json:"dry_run,omitempty"`
	Selection      string   `json:"selection"`
	Selected       int64    `json:"selected"`
	Published      int64    `json:"published"`
	Invalid        int64    `json:"invalid"`
	Failed         int64    `json:"failed"`
	Skipped        int64    `json:"already_published"`
	Cursor         string   `json:"cursor"`
	Complete       bool     `json:"complete"`
	AlreadyDone    bool     `json:"already_complete,omitempty"`
	Resumed        bool     `json:"resumed,omitempty"`
	State          string   `json:"state_file,omitempty"`
	ElapsedSeconds float64  `json:"elapsed_seconds"`
	TasksPerSecond *float64 `json:"tasks_per_second,omitempty"`
}

func backfillReport(res backfillResult, opts backfillOptions, elapsed time.Duration) backfillJSON {
	r := backfillJSON{
		DryRun: opts.DryRun, Selection: opts.Selection.String(), Selected: res.Matched, Published: res.Published,
		Invalid: res.Invalid, Failed: res.Failed, Skipped: res.Skipped, Cursor: res.Cursor, Complete: res.Done,
		AlreadyDone: res.AlreadyDone, Resumed: res.Resumed, State: opts.StatePath, ElapsedSeconds: elapsed.Seconds(),
	}
	if res.Published > 1 && res.Last.After(res.First) {
		v := float64(res.Published-1) / res.Last.Sub(res.First).Seconds()
		r.TasksPerSecond = &v
	}
	return r
}

// backfillSummary is the final line.
func backfillSummary(res backfillResult, opts backfillOptions, elapsed time.Duration, err error) string {
	var b strings.Builder
	if opts.DryRun {
		fmt.Fprintf(&b, "backfill (dry run): %d track(s) selected (%s)", res.Matched, opts.Selection)
		if res.Resumed {
			fmt.Fprintf(&b, " after cursor %q of %s", res.Cursor, opts.StatePath)
		}
		if res.AlreadyDone {
			b.WriteString("; the run in the state file is complete")
		}
		return b.String()
	}
	fmt.Fprintf(&b, "backfill: %d published, %d invalid, %d failed", res.Published, res.Invalid, res.Failed)
	if res.Skipped > 0 {
		fmt.Fprintf(&b, ", %d already published", res.Skipped)
	}
	fmt.Fprintf(&b, " of %d selected (%s) in %s", res.Matched, opts.Selection, elapsed.Round(time.Millisecond))
	if res.Published > 1 && res.Last.After(res.First) {
		fmt.Fprintf(&b, ", %.1f tasks/s", float64(res.Published-1)/res.Last.Sub(res.First).Seconds())
	}
	switch {
	case res.AlreadyDone:
		b.WriteString("; the run in the state file is already complete (delete it to start over)")
	case res.Done:
		b.WriteString("; complete")
	case err != nil && opts.StatePath != "":
		fmt.Fprintf(&b, "; stopped at cursor %q, resume with --state %s", res.Cursor, opts.StatePath)
	case err != nil:
		fmt.Fprintf(&b, "; stopped at cursor %q (use --state to make runs resumable)", res.Cursor)
	default:
		fmt.Fprintf(&b, "; stopped at --limit, cursor %q", res.Cursor)
	}
	return b.String()
}
