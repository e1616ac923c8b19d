package enrichctl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/match"
	"github.com/djmeta/enrichment/internal/store"
	"github.com/djmeta/enrichment/internal/task"
	"github.com/djmeta/enrichment/internal/worker"
)

// Rematch defaults.
const (
	// RematchBatchDefault is the rows read, decided and written per page;
	// the state file is saved once per page.
	RematchBatchDefault = 500
	// RematchConcurrencyDefault is the rows decided at once. With a warm
	// cache a row costs a Redis round trip or two and some CPU; rows whose
	// answers are not cached wait for the fleet's quotas like a worker's.
	RematchConcurrencyDefault = 8
	rematchStateVersion       = 1
	maxRematchFailureReports  = 20
)

// rematchSelection is the selection as given on the command line, stored in
// the state file so that a resumed run selects the same rows.
type rematchSelection struct {
	MatcherOlderThan int      `json:"matcher_older_than"`
	Statuses         []string `json:"statuses"`
}

func (s rematchSelection) String() string {
	if s.MatcherOlderThan > match.MatcherVersion {
		return fmt.Sprintf("decided by any matcher, status %s", strings.Join(s.Statuses, ", "))
	}
	return fmt.Sprintf("decided by a matcher older than version %d, status %s", s.MatcherOlderThan, strings.Join(s.Statuses, ", "))
}

func (s rematchSelection) filter() store.RematchFilter {
	return store.RematchFilter{MatcherOlderThan: s.MatcherOlderThan, Statuses: s.Statuses}
}

// rematchState is the resumable progress of one rematch run (--state).
type rematchState struct {
	Version   int              `json:"version"`
	StartedAt time.Time        `json:"started_at"`
	Selection rematchSelection `json:"selection"`
	// Cursor is the last tracks.id handled: every selected row up to it (in
	// the database's order) was decided again and its result written.
	Cursor    string        `json:"cursor"`
	Counts    rematchCounts `json:"counts"`
	Done      bool          `json:"done"`
	UpdatedAt time.Time     `json:"updated_at"`
}

// rematchCounts are what a run did.
type rematchCounts struct {
	Decided   int64 `json:"decided"`
	Changed   int64 `json:"changed"`
	Unchanged int64 `json:"unchanged"`
	Failed    int64 `json:"failed"`
	// Fields counts the changed rows per field ("spotify_id", "label"), and
	// Kinds per field and kind of change ("spotify_id found", "withdrawn",
	// "replaced").
	Fields map[string]int64 `json:"fields,omitempty"`
	Kinds  map[string]int64 `json:"kinds,omitempty"`
}

func (c *rematchCounts) add(o rematchCounts) {
	c.Decided += o.Decided
	c.Changed += o.Changed
	c.Unchanged += o.Unchanged
	c.Failed += o.Failed
	for k, v := range o.Fields {
		if c.Fields == nil {
			c.Fields = map[string]int64{}
		}
		c.Fields[k] += v
	}
	for k, v := range o.Kinds {
		if c.Kinds == nil {
			c.Kinds = map[string]int64{}
		}
		c.Kinds[k] += v
	}
}

// rematchPipeline decides a track: the worker's engine (worker.Pipeline).
type rematchPipeline interface {
	enrich.Pipeline
	Requests() (map[string]int64, error)
	Close()
}

// newRematchPipeline builds the engine from the worker's configuration.
var newRematchPipeline = func(cfg config.Worker, log *zap.Logger, overrides enrich.OverrideSource) (rematchPipeline, error) {
	return worker.NewPipeline(cfg, log, overrides)
}

// rematchOptions configures one invocation.
type rematchOptions struct {
	Selection   rematchSelection
	Limit       int64 // decide at most this many rows in this invocation; 0: all
	DryRun      bool
	StatePath   string
	Batch       int
	Concurrency int
	TaskTimeout time.Duration

	onSelected func(n int64)
	onDecided  func()
	onFailure  func(id string, err error)
}

// rematchResult is what one invocation did.
type rematchResult struct {
	Selected    int64 // selected after the cursor when the invocation started
	Counts      rematchCounts
	Requests    map[string]int64 // provider requests sent by this invocation
	Cursor      string
	Done        bool
	Resumed     bool
	AlreadyDone bool
}

// fieldChange is one field of a row that the new decision changes.
type fieldChange struct {
	Field, From, To string
}

// kind names a change: found (nothing before), withdrawn (nothing now),
// replaced.
func (c fieldChange) kind() string {
	switch {
	case c.From == "":
		return "found"
	case c.To == "":
		return "withdrawn"
	}
	return "replaced"
}

// rematchTask rebuilds the task a stored row was decided on: the artist and
// title as scraped and the hints the task carried (metadata.input). A row
// written before the input was kept is decided from its artist and title
// and the hints its provenance shows: a provider asked by id was given that
// id, an ISRC Spotify was asked by was given (Spotify is asked first). Its
// duration hint is lost.
func rematchTask(r store.RematchRow) task.Task {
	t := task.Task{TrackID: r.ID, Artist: r.Artist, Title: r.Title, Source: "rematch"}
	if in, ok := r.Metadata["input"].(map[string]any); ok {
		t.DurationMS = int(number(in["duration_ms"]))
		t.ISRC, _ = in["isrc"].(string)
		t.SpotifyID, _ = in["spotify_id"].(string)
		t.MusicBrainzID, _ = in["musicbrainz_id"].(string)
		t.DiscogsReleaseID = int64(number(in["discogs_release_id"]))
		return t
	}
	providers, _ := r.Metadata["providers"].(map[string]any)
	via := func(p string) string {
		info, _ := providers[p].(map[string]any)
		v, _ := info["via"].(string)
		return v
	}
	if via(enrich.ProviderSpotify) == "id" {
		t.SpotifyID = r.SpotifyID
	}
	if via(enrich.ProviderMusicBrainz) == "id" {
		t.MusicBrainzID = r.MusicBrainzID
	}
	if via(enrich.ProviderDiscogs) == "id" {
		t.DiscogsReleaseID = r.DiscogsReleaseID
	}
	if via(enrich.ProviderSpotify) == "isrc" {
		t.ISRC = r.ISRC
	}
	return t
}

func number(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int:
		return float64(n)
	case int64:
		return float64(n)
	}
	return 0
}

// diffDecision lists the decision fields of row that result r changes: the
// provider ids, the ISRC, duration, release date, label, genres, status and
// the providers that matched. Scores, confidence and provenance follow the
// decision and are written with it, but do not make a change on their own.
func diffDecision(row store.RematchRow, r enrich.Result) []fieldChange {
	var out []fieldChange
	add := func(field, from, to string) {
		if from != to {
			out = append(out, fieldChange{Field: field, From: from, To: to})
		}
	}
	id := func(n int64) string {
		if n == 0 {
			return ""
		}
		return strconv.FormatInt(n, 10)
	}
	dur := func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	date := func(d time.Time) string {
		if d.IsZero() {
			return ""
		}
		return d.UTC().Format("2006-01-02")
	}
	add("spotify_id", row.SpotifyID, r.SpotifyID)
	add("musicbrainz_id", row.MusicBrainzID, r.MusicBrainzID)
	add("discogs_release_id", id(row.DiscogsReleaseID), id(r.DiscogsReleaseID))
	add("isrc", row.ISRC, r.ISRC)
	add("duration_ms", dur(row.DurationMS), dur(r.DurationMS))
	add("release_date", date(row.ReleaseDate), date(r.ReleaseDate))
	add("label", row.Label, r.Label)
	add("genres", strings.Join(row.Genres, ","), strings.Join(r.Genres, ","))
	add("status", row.Status, string(r.Status))
	sources := slices.Clone(r.Sources)
	sort.Strings(sources)
	stored := slices.Clone(row.Sources)
	sort.Strings(stored)
	add("sources", strings.Join(stored, ","), strings.Join(sources, ","))
	return out
}

// rematchOutcome is one row decided again.
type rematchOutcome struct {
	row     store.RematchRow
	task    task.Task
	result  enrich.Result
	changes []fieldChange
	err     error
}

// runRematch selects rows page by page (keyset on tracks.id), decides each
// again with the pipeline (the cache answers what it can; the rest is fetched
// within the fleet's quotas), writes the rows whose decision changed as an
// ordinary enrichment would, with provenance and conflicts (the columns the
// matcher decides replaced, so that a withdrawn id is cleared), and records
// the new matcher version on the rows it leaves as they were. The cursor and
// counts are saved after each page's writes, so an interrupted run resumed
// with the same state file goes on after the last page written.
func runRematch(ctx context.Context, st *store.Store, p rematchPipeline, opts rematchOptions) (res rematchResult, err error) {
	state := rematchState{Version: rematchStateVersion, StartedAt: time.Now().UTC(), Selection: opts.Selection}
	if opts.StatePath != "" && !opts.DryRun {
		var saved rematchState
		ok, err := readStateFile(opts.StatePath, &saved)
		if err != nil {
			return res, err
		}
		if ok {
			if saved.Version != rematchStateVersion {
				return res, fmt.Errorf("rematch state %s: version %d, want %d", opts.StatePath, saved.Version, rematchStateVersion)
			}
			if !slices.Equal(saved.Selection.Statuses, opts.Selection.Statuses) || saved.Selection.MatcherOlderThan != opts.Selection.MatcherOlderThan {
				return res, fmt.Errorf("%w: state file %s belongs to a rematch of rows %s, not %s: use another --state file or delete it",
					ErrUsage, opts.StatePath, saved.Selection, opts.Selection)
			}
			state, res.Resumed = saved, true
		}
	}
	res.Cursor, res.Done, res.AlreadyDone = state.Cursor, state.Done, state.Done
	if state.Done {
		return res, nil
	}
	filter := state.Selection.filter()
	if res.Selected, err = st.RematchCount(ctx, filter, state.Cursor); err != nil {
		return res, err
	}
	if opts.onSelected != nil {
		n := res.Selected
		if opts.Limit > 0 {
			n = min(n, opts.Limit)
		}
		opts.onSelected(n)
	}
	if opts.Batch < 1 {
		opts.Batch = RematchBatchDefault
	}
	if opts.Concurrency < 1 {
		opts.Concurrency = RematchConcurrencyDefault
	}
	before, err := p.Requests()
	if err != nil {
		return res, err
	}
	defer func() {
		// Also after a failure: what was sent was sent.
		if after, rerr := p.Requests(); rerr == nil {
			res.Requests = map[string]int64{enrich.ProviderSpotify: 0, enrich.ProviderMusicBrainz: 0, enrich.ProviderDiscogs: 0}
			for k, v := range after {
				res.Requests[k] = v - before[k]
			}
		}
	}()
	save := func() error {
		if opts.StatePath == "" || opts.DryRun {
			return nil
		}
		state.UpdatedAt = time.Now().UTC()
		return writeStateFile(opts.StatePath, &state)
	}

	var decided int64
	cursor := state.Cursor
	for {
		want := opts.Batch
		if opts.Limit > 0 {
			if decided >= opts.Limit {
				break
			}
			want = int(min(int64(want), opts.Limit-decided))
		}
		page, err := st.RematchPage(ctx, filter, cursor, want)
		if err != nil {
			return res, err
		}
		if len(page) == 0 {
			state.Done = true
			break
		}
		outcomes := decide(ctx, p, page, opts)
		if err := ctx.Err(); err != nil {
			// Part of the page may not have been decided: nothing of it is
			// written, and the cursor stays before it.
			break
		}
		var counts rematchCounts
		var writes []store.Write
		var unchanged []string
		for _, o := range outcomes {
			switch {
			case o.err != nil:
				counts.Failed++
				if opts.onFailure != nil {
					opts.onFailure(o.row.ID, o.err)
				}
			case len(o.changes) == 0:
				counts.Decided++
				counts.Unchanged++
				unchanged = append(unchanged, o.row.ID)
			default:
				counts.Decided++
				counts.Changed++
				if counts.Fields == nil {
					counts.Fields, counts.Kinds = map[string]int64{}, map[string]int64{}
				}
				for _, c := range o.changes {
					counts.Fields[c.Field]++
					counts.Kinds[c.Field+" "+c.kind()]++
				}
				// A partial result (a provider could not be asked) replaces
				// nothing: what that provider decided before stays.
				writes = append(writes, store.Write{Task: o.task, Result: o.result, Attempts: o.row.Attempts,
					LastError: o.row.LastError, Replace: o.result.Status != enrich.StatusPartial})
			}
		}
		if !opts.DryRun {
			if err := st.SaveBatch(ctx, writes); err != nil {
				return res, fmt.Errorf("write %d changed rows: %w", len(writes), err)
			}
			if err := st.SetMatcherVersion(ctx, unchanged, match.MatcherVersion); err != nil {
				return res, err
			}
		}
		decided += int64(len(page))
		cursor = page[len(page)-1].ID
		state.Cursor = cursor
		state.Counts.add(counts)
		res.Counts.add(counts)
		if err := save(); err != nil {
			return res, err
		}
	}
	res.Cursor, res.Done = state.Cursor, state.Done
	if err := save(); err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil && !state.Done {
		return res, fmt.Errorf("rematch interrupted: %w", err)
	}
	return res, nil
}

// decide decides each row of page again, opts.Concurrency at a time.
func decide(ctx context.Context, p rematchPipeline, page []store.RematchRow, opts rematchOptions) []rematchOutcome {
	out := make([]rematchOutcome, len(page))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(opts.Concurrency, len(page)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				row := page[i]
				o := rematchOutcome{row: row, task: rematchTask(row)}
				tctx, cancel := ctx, context.CancelFunc(func() {})
				if opts.TaskTimeout > 0 {
					tctx, cancel = context.WithTimeout(ctx, opts.TaskTimeout)
				}
				o.result, o.err = p.Enrich(tctx, o.task)
				cancel()
				if o.err == nil {
					o.changes = diffDecision(row, o.result)
				}
				out[i] = o
				if opts.onDecided != nil {
					opts.onDecided()
				}
			}
		}()
	}
	for i := range page {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	return out
}

func init() { register(newRematchCmd) }

func newRematchCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rematch",
		Short: "Decide stored rows again with the current matcher, from the cached provider answers (resumable)",
		Long: "rematch selects the rows an older matcher decided (--matcher-older-than, default the current\n" +
			"version " + strconv.Itoa(match.MatcherVersion) + "; --status) and decides each again with the worker's engine: every\n" +
			"provider answer it needs comes from the cache, and only what is not cached is fetched, within\n" +
			"the fleet's quotas. A row whose decision changes is written as an ordinary enrichment would\n" +
			"(provenance, conflicts, updated_at); the others only record the new matcher version. It reports\n" +
			"the rows changed per provider and field and the provider requests it sent. With --state FILE an\n" +
			"interrupted run resumed with the same command goes on where it stopped (docs/operations.md).\n" +
			"It reads the worker's environment (providers, credentials, rates, cache).",
		Example: "  enrichctl rematch --dry-run\n" +
			"  enrichctl rematch --status not_found,partial --limit 1000 --state rematch.json",
		Args: noArgs,
	}
	fl := cmd.Flags()
	olderThan := fl.Int("matcher-older-than", match.MatcherVersion, "select rows decided by a matcher version below this (rows with no version recorded count as older)")
	all := fl.Bool("all", false, "select rows decided by any matcher, the current one too (after review import: apply the overrides to every row)")
	statuses := fl.StringSlice("status", store.DefaultRematchStatuses, "select rows with these statuses (completed, partial, not_found, failed)")
	limit := fl.Int64("limit", 0, "decide at most N rows in this invocation (0: all)")
	dryRun := fl.Bool("dry-run", false, "decide and report, write nothing")
	statePath := fl.String("state", "", "state file that makes the run resumable (created if missing)")
	batch := fl.Int("batch", RematchBatchDefault, "rows read, decided and written per page; the state file is saved once per page")
	concurrency := fl.Int("concurrency", RematchConcurrencyDefault, "rows decided at once")
	quiet := fl.Bool("quiet", false, "no progress bar")
	dbURL := a.urlFlag(cmd, "database-url", "DATABASE_URL", "Postgres URL")
	out := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		switch {
		case *olderThan < 1 || *olderThan > match.MatcherVersion:
			return usageErr("--matcher-older-than must be in [1, %d], got %d", match.MatcherVersion, *olderThan)
		case *limit < 0:
			return usageErr("--limit must not be negative, got %d", *limit)
		case *batch < 1 || *batch > 10000:
			return usageErr("--batch must be in [1, 10000], got %d", *batch)
		case *concurrency < 1 || *concurrency > 256:
			return usageErr("--concurrency must be in [1, 256], got %d", *concurrency)
		}
		if *all && cmd.Flags().Changed("matcher-older-than") {
			return usageErr("--all and --matcher-older-than select differently; give one")
		}
		sel := rematchSelection{MatcherOlderThan: *olderThan}
		if *all {
			sel.MatcherOlderThan = match.MatcherVersion + 1
		}
		for _, s := range *statuses {
			s = strings.TrimSpace(s)
			switch enrich.Status(s) {
			case enrich.StatusCompleted, enrich.StatusPartial, enrich.StatusNotFound, enrich.StatusFailed:
			default:
				return usageErr("--status: %q is not one of completed, partial, not_found, failed", s)
			}
			if !slices.Contains(sel.Statuses, s) {
				sel.Statuses = append(sel.Statuses, s)
			}
		}
		sort.Strings(sel.Statuses)
		wcfg, err := config.LoadWorker(a.env.Environ)
		if err != nil {
			return err
		}
		st, err := a.openStore(dbURL)
		if err != nil {
			return err
		}
		defer st.Close()
		p, err := newRematchPipeline(wcfg, zap.NewNop(), st)
		if err != nil {
			return err
		}
		defer p.Close()

		opts := rematchOptions{Selection: sel, Limit: *limit, DryRun: *dryRun, StatePath: *statePath, Batch: *batch,
			Concurrency: *concurrency, TaskTimeout: wcfg.TaskTimeout}
		failures := 0
		opts.onFailure = func(id string, err error) {
			if failures++; failures <= maxRematchFailureReports {
				fmt.Fprintf(a.env.Stderr, "track \"%s\" not decided again: %s\n", Escape(id), Escape(err.Error()))
			} else if failures == maxRematchFailureReports+1 {
				fmt.Fprintln(a.env.Stderr, "more tracks not decided again; see the summary")
			}
		}
		var bar *progressbar.ProgressBar
		var barMu sync.Mutex
		if a.env.Interactive && !*quiet {
			opts.onSelected = func(n int64) {
				bar = progressbar.NewOptions64(n, progressbar.OptionSetWriter(a.env.Stderr),
					progressbar.OptionSetDescription("rematch"), progressbar.OptionShowCount(),
					progressbar.OptionShowIts(), progressbar.OptionSetItsString("rows"),
					progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(200*time.Millisecond),
					progressbar.OptionClearOnFinish())
			}
			opts.onDecided = func() {
				barMu.Lock()
				_ = bar.Add(1)
				barMu.Unlock()
			}
		}
		start := time.Now()
		res, err := runRematch(a.ctx, st, p, opts)
		if bar != nil {
			_ = bar.Finish()
		}
		elapsed := time.Since(start)
		if out.json() {
			if werr := writeJSON(a.env.Stdout, rematchReport(res, opts, elapsed)); werr != nil {
				return errors.Join(err, werr)
			}
			return err
		}
		fmt.Fprint(a.env.Stdout, rematchSummary(res, opts, elapsed))
		return err
	}
	return cmd
}

// rematchJSON is rematch's -o json report.
type rematchJSON struct {
	DryRun           bool             `json:"dry_run,omitempty"`
	MatcherVersion   int              `json:"matcher_version"`
	Selection        string           `json:"selection"`
	Selected         int64            `json:"selected"`
	Decided          int64            `json:"decided"`
	Changed          int64            `json:"changed"`
	Unchanged        int64            `json:"unchanged"`
	Failed           int64            `json:"failed"`
	ChangedFields    map[string]int64 `json:"changed_fields"`
	Changes          map[string]int64 `json:"changes"`
	ProviderRequests map[string]int64 `json:"provider_requests"`
	Cursor           string           `json:"cursor"`
	Complete         bool             `json:"complete"`
	AlreadyDone      bool             `json:"already_complete,omitempty"`
	Resumed          bool             `json:"resumed,omitempty"`
	State            string           `json:"state_file,omitempty"`
	ElapsedSeconds   float64          `json:"elapsed_seconds"`
}

func rematchReport(res rematchResult, opts rematchOptions, elapsed time.Duration) rematchJSON {
	r := rematchJSON{DryRun: opts.DryRun, MatcherVersion: match.MatcherVersion, Selection: opts.Selection.String(),
		Selected: res.Selected, Decided: res.Counts.Decided, Changed: res.Counts.Changed, Unchanged: res.Counts.Unchanged,
		Failed: res.Counts.Failed, ChangedFields: res.Counts.Fields, Changes: res.Counts.Kinds, ProviderRequests: res.Requests,
		Cursor: res.Cursor, Complete: res.Done, AlreadyDone: res.AlreadyDone, Resumed: res.Resumed, State: opts.StatePath,
		ElapsedSeconds: elapsed.Seconds()}
	if r.ChangedFields == nil {
		r.ChangedFields = map[string]int64{}
	}
	if r.Changes == nil {
		r.Changes = map[string]int64{}
	}
	if r.ProviderRequests == nil {
		r.ProviderRequests = map[string]int64{}
	}
	return r
}

// rematchFields orders the report's fields: the providers' ids first.
var rematchFields = []string{"spotify_id", "musicbrainz_id", "discogs_release_id", "isrc", "duration_ms", "release_date",
	"label", "genres", "status", "sources"}

// rematchSummary is the text report.
func rematchSummary(res rematchResult, opts rematchOptions, elapsed time.Duration) string {
	var b strings.Builder
	verb := "rematch"
	if opts.DryRun {
		verb = "rematch (dry run, nothing written)"
	}
	if res.AlreadyDone {
		fmt.Fprintf(&b, "%s: the run in %s is already complete (delete it to start over)\n", verb, opts.StatePath)
		return b.String()
	}
	fmt.Fprintf(&b, "%s with matcher %d: %d decided again of %d selected (%s) in %s: %d changed, %d unchanged, %d failed\n",
		verb, match.MatcherVersion, res.Counts.Decided+res.Counts.Failed, res.Selected, opts.Selection, elapsed.Round(time.Millisecond),
		res.Counts.Changed, res.Counts.Unchanged, res.Counts.Failed)
	for _, f := range rematchFields {
		n := res.Counts.Fields[f]
		if n == 0 {
			continue
		}
		var kinds []string
		for _, k := range []string{"found", "replaced", "withdrawn"} {
			if m := res.Counts.Kinds[f+" "+k]; m > 0 {
				kinds = append(kinds, fmt.Sprintf("%d %s", m, k))
			}
		}
		fmt.Fprintf(&b, "  %-20s %d rows (%s)\n", f, n, strings.Join(kinds, ", "))
	}
	var reqs []string
	for _, p := range []string{enrich.ProviderSpotify, enrich.ProviderMusicBrainz, enrich.ProviderDiscogs} {
		reqs = append(reqs, fmt.Sprintf("%s %d", p, res.Requests[p]))
	}
	fmt.Fprintf(&b, "provider requests: %s (the rest answered from the cache)\n", strings.Join(reqs, ", "))
	switch {
	case res.Done:
		b.WriteString("complete\n")
	case opts.StatePath != "" && !opts.DryRun:
		fmt.Fprintf(&b, "stopped at cursor %q: resume with --state %s\n", res.Cursor, opts.StatePath)
	default:
		fmt.Fprintf(&b, "stopped at cursor %q\n", res.Cursor)
	}
	if res.Counts.Failed > 0 {
		b.WriteString("rows that failed keep their decision and their matcher version: a later run selects them again\n")
	}
	return b.String()
}
