package enrichctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/match"
	"github.com/djmeta/enrichment/internal/provider"
	"github.com/djmeta/enrichment/internal/store"
	"github.com/djmeta/enrichment/internal/task"
)

// reviewVerbs are the review subcommands, registered by their files.
var reviewVerbs []func(*app) *cobra.Command

// registerReview adds a review subcommand; call it from an init function.
func registerReview(f func(*app) *cobra.Command) { reviewVerbs = append(reviewVerbs, f) }

func init() {
	register(func(a *app) *cobra.Command {
		cmd := group(&cobra.Command{
			Use:   "review",
			Short: "List and decide close calls; overrides that every later enrichment applies",
			Long: "review works on the close calls the workers keep (a provider's best candidate missed the\n" +
				"threshold or the margin only narrowly, or was the same song in another version or credit)\n" +
				"and on the overrides people decide: accept a recording or reject a provider for a track,\n" +
				"by its track id and, unless --scope track, by its normalised artist and title, so that the\n" +
				"next scrape of the same track is decided too. A decision is applied to the row at once and\n" +
				"by every later enrichment, backfill and rematch (docs/curation.md).",
		})
		for _, f := range reviewVerbs {
			cmd.AddCommand(f(a))
		}
		return cmd
	})
	registerReview(newReviewListCmd)
	registerReview(newReviewShowCmd)
	registerReview(func(a *app) *cobra.Command { return newReviewDecideCmd(a, enrich.OverrideAccept) })
	registerReview(func(a *app) *cobra.Command { return newReviewDecideCmd(a, enrich.OverrideReject) })
	registerReview(newReviewClearCmd)
}

var reviewReasons = []string{match.ReasonThreshold, match.ReasonMargin, match.ReasonVersionConflict, match.ReasonArtistConflict}
var reviewProviders = []string{enrich.ProviderSpotify, enrich.ProviderMusicBrainz, enrich.ProviderDiscogs}

func checkProvider(p string) error {
	for _, x := range reviewProviders {
		if p == x {
			return nil
		}
	}
	return usageErr("provider %q is not one of %s", p, strings.Join(reviewProviders, ", "))
}

func newReviewListCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the open close calls",
		Example: "  enrichctl review list --provider musicbrainz --reason margin\n" +
			"  enrichctl review list -o json",
		Args: noArgs,
	}
	prov := cmd.Flags().String("provider", "", "only this provider: "+strings.Join(reviewProviders, ", "))
	reason := cmd.Flags().String("reason", "", "only this reason: "+strings.Join(reviewReasons, ", "))
	limit := cmd.Flags().Int("limit", 100, "list at most N close calls (0: all)")
	dbURL := a.urlFlag(cmd, "database-url", "DATABASE_URL", "Postgres URL")
	out := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *prov != "" {
			if err := checkProvider(*prov); err != nil {
				return err
			}
		}
		if *reason != "" && !contains(reviewReasons, *reason) {
			return usageErr("--reason %q is not one of %s", *reason, strings.Join(reviewReasons, ", "))
		}
		if *limit < 0 {
			return usageErr("--limit must not be negative, got %d", *limit)
		}
		st, err := a.openStore(dbURL)
		if err != nil {
			return err
		}
		defer st.Close()
		rows, err := st.Reviews(a.ctx, store.ReviewFilter{Provider: *prov, Reason: *reason, Limit: *limit})
		if err != nil {
			return err
		}
		if out.json() {
			return writeJSON(a.env.Stdout, nonNil(rows))
		}
		if len(rows) == 0 {
			_, err := fmt.Fprintln(a.env.Stdout, "no open close calls")
			return err
		}
		tw := tabwriter.NewWriter(a.env.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TRACK\tPROVIDER\tREASON\tLINE\tBEST CANDIDATE\tCLOSE")
		for _, r := range rows {
			best, score := "", ""
			if len(r.Candidates) > 0 {
				c := r.Candidates[0]
				best = oneLine(Escape(strings.Join(c.Recording.Artists, ", ")+" - "+c.Recording.Title), 50)
				score = strconv.FormatFloat(c.Close, 'f', 3, 64)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", Escape(r.TrackID), r.Provider, r.Reason,
				oneLine(Escape(r.Artist+" - "+r.Title), 50), best, score)
		}
		return tw.Flush()
	}
	return cmd
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// reviewShow is what review show reports about one track.
type reviewShow struct {
	TrackID string `json:"track_id"`
	Artist  string `json:"artist"`
	Title   string `json:"title"`
	// Input are the hints the task carried (metadata.input).
	Input   map[string]any `json:"input,omitempty"`
	NameKey string         `json:"name_key"`
	Status  string         `json:"status"`
	// Decision is the stored id per provider ("" when none).
	Decision  map[string]string      `json:"decision"`
	Providers map[string]any         `json:"providers,omitempty"`
	Reviews   []store.ReviewRow      `json:"reviews"`
	Overrides []store.OverrideRecord `json:"overrides"`
	Fields    map[string]any         `json:"fields,omitempty"`
}

func newReviewShowCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "show TRACK_ID",
		Short:   "Show a track as scraped and each provider's candidates side by side, with why each was or was not chosen",
		Example: "  enrichctl review show set01-t07\n  enrichctl review show set01-t07 -o json",
		Args:    cobra.ExactArgs(1),
	}
	dbURL := a.urlFlag(cmd, "database-url", "DATABASE_URL", "Postgres URL")
	out := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		st, err := a.openStore(dbURL)
		if err != nil {
			return err
		}
		defer st.Close()
		row, err := trackRow(a.ctx, st, args[0])
		if err != nil {
			return err
		}
		s := reviewShow{TrackID: row.ID, Artist: row.Artist, Title: row.Title, NameKey: match.NameKey(row.Artist, row.Title),
			Status: row.Status, Decision: map[string]string{
				enrich.ProviderSpotify: row.SpotifyID, enrich.ProviderMusicBrainz: row.MusicBrainzID, enrich.ProviderDiscogs: "",
			}}
		if row.DiscogsReleaseID > 0 {
			s.Decision[enrich.ProviderDiscogs] = strconv.FormatInt(row.DiscogsReleaseID, 10)
		}
		s.Input, _ = row.Metadata["input"].(map[string]any)
		s.Providers, _ = row.Metadata["providers"].(map[string]any)
		s.Fields, _ = row.Metadata["fields"].(map[string]any)
		if s.Reviews, err = st.Reviews(a.ctx, store.ReviewFilter{TrackID: row.ID}); err != nil {
			return err
		}
		all, err := st.OverridesOf(a.ctx, row.ID, s.NameKey)
		if err != nil {
			return err
		}
		s.Overrides = all
		s.Reviews, s.Overrides = nonNil(s.Reviews), nonNil(s.Overrides)
		if out.json() {
			return writeJSON(a.env.Stdout, s)
		}
		return writeReviewShow(a.env.Stdout, s)
	}
	return cmd
}

func writeReviewShow(w io.Writer, s reviewShow) error {
	fmt.Fprintf(w, "track     %s\n", Escape(s.TrackID))
	fmt.Fprintf(w, "scraped   %s - %s\n", Escape(s.Artist), Escape(s.Title))
	if len(s.Input) > 0 {
		var hints []string
		for _, k := range []string{"duration_ms", "isrc", "spotify_id", "musicbrainz_id", "discogs_release_id"} {
			if v, ok := s.Input[k]; ok && fmt.Sprint(v) != "" && fmt.Sprint(v) != "0" {
				hints = append(hints, k+"="+Escape(fmt.Sprint(v)))
			}
		}
		if len(hints) > 0 {
			fmt.Fprintf(w, "hints     %s\n", strings.Join(hints, " "))
		}
	}
	fmt.Fprintf(w, "name key  %s\n", Escape(s.NameKey))
	fmt.Fprintf(w, "status    %s\n", s.Status)
	for _, p := range reviewProviders {
		fmt.Fprintf(w, "\n%s: ", p)
		if id := s.Decision[p]; id != "" {
			fmt.Fprintf(w, "stored %s", Escape(id))
		} else {
			fmt.Fprint(w, "no match stored")
		}
		if info, ok := s.Providers[p].(map[string]any); ok {
			if via, _ := info["via"].(string); via != "" {
				fmt.Fprintf(w, " (via %s)", Escape(via))
			}
			if reason, _ := info["reason"].(string); reason != "" {
				fmt.Fprintf(w, "; %s", Escape(reason))
			}
		}
		fmt.Fprintln(w)
		for _, o := range s.Overrides {
			if o.Provider != p {
				continue
			}
			what := o.Action
			if o.Action == enrich.OverrideAccept {
				what += " " + o.ProviderID
			}
			fmt.Fprintf(w, "  override (%s): %s by %s at %s\n", o.Scope, Escape(what), Escape(o.DecidedBy), o.DecidedAt.UTC().Format(time.RFC3339))
		}
		for _, r := range s.Reviews {
			if r.Provider != p {
				continue
			}
			fmt.Fprintf(w, "  close call: %s (%s)\n", r.Reason, Escape(r.Detail))
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  #\tID\tTITLE\tARTISTS\tVERSION\tLENGTH\tISRC\tCLOSE\tWHY")
			for i, c := range r.Candidates {
				rec := c.Recording
				fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t%s\t%.3f\t%s\n", i+1, Escape(rec.ID), oneLine(Escape(rec.Title), 40),
					oneLine(Escape(strings.Join(rec.Artists, ", ")), 30), Escape(c.Version), length(rec.DurationMS),
					Escape(strings.Join(rec.ISRCs, ",")), c.Close, oneLine(Escape(c.Why), 70))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func length(ms int) string {
	if ms <= 0 {
		return "-"
	}
	s := (ms + 500) / 1000
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// decideFlags are the flags of accept, reject and clear.
type decideFlags struct {
	by, scope, note string
	noApply         bool
	dbURL           *envURL
	out             *output
}

func addDecideFlags(a *app, cmd *cobra.Command, withScope bool) *decideFlags {
	f := &decideFlags{}
	if withScope {
		cmd.Flags().StringVar(&f.by, "by", "", "who decides (default: the OS user)")
		cmd.Flags().StringVar(&f.scope, "scope", "both", "key the override by the track id (track), by its normalised artist and title (name), or both")
		cmd.Flags().StringVar(&f.note, "note", "", "a note kept with the override")
	}
	cmd.Flags().BoolVar(&f.noApply, "no-apply", false, "only record the decision; the row takes it at its next enrichment")
	f.dbURL = a.urlFlag(cmd, "database-url", "DATABASE_URL", "Postgres URL")
	f.out = addOutput(cmd)
	return f
}

func (f *decideFlags) decidedBy() string {
	if f.by != "" {
		return f.by
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

func newReviewDecideCmd(a *app, action string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "accept TRACK_ID PROVIDER ID",
		Short: "Accept a recording for a track at a provider (an override)",
		Example: "  enrichctl review accept set01-t07 musicbrainz 92c3feb8-ca02-4b5b-8e05-503640f3167b\n" +
			"  enrichctl review accept set01-t07 spotify p6zIP050DJsdSYjOtGiqqm --scope track --by alice",
		Args: cobra.ExactArgs(3),
	}
	if action == enrich.OverrideReject {
		cmd.Use, cmd.Short, cmd.Args = "reject TRACK_ID PROVIDER", "Record that no match exists for a track at a provider (an override)", cobra.ExactArgs(2)
		cmd.Example = "  enrichctl review reject set01-t07 discogs --by alice"
	}
	f := addDecideFlags(a, cmd, true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		trackID, prov := args[0], args[1]
		if err := checkProvider(prov); err != nil {
			return err
		}
		scopes, err := scopesOf(f.scope)
		if err != nil {
			return err
		}
		var id string
		if action == enrich.OverrideAccept {
			if id, err = normalizeProviderID(prov, args[2]); err != nil {
				return err
			}
		}
		st, err := a.openStore(f.dbURL)
		if err != nil {
			return err
		}
		defer st.Close()
		row, err := trackRow(a.ctx, st, trackID)
		if err != nil {
			return err
		}
		pipeline, closePipeline := a.lazyPipeline(st)
		defer closePipeline()
		rec := store.OverrideRecord{Provider: prov, Action: action, TrackID: row.ID, DecidedBy: f.decidedBy(),
			DecidedAt: time.Now().UTC(), Note: f.note}
		if action == enrich.OverrideAccept {
			r, err := acceptedRecording(a.ctx, st, pipeline, row, prov, id)
			if err != nil {
				return err
			}
			rec.ProviderID, rec.Recording = id, &r
		}
		nameKey := match.NameKey(row.Artist, row.Title)
		var recs []store.OverrideRecord
		for _, sc := range scopes {
			r := rec
			r.Scope, r.Key = sc, row.ID
			if sc == enrich.ScopeName {
				if nameKey == "" || len(nameKey) > store.MaxOverrideKeyLen {
					// A placeholder has no name; a name longer than an
					// index entry holds is decided by its track id only.
					fmt.Fprintf(a.env.Stderr, "%s: no override by name (the line names no track, or its name is longer than %d bytes); by track id only\n",
						Escape(row.ID), store.MaxOverrideKeyLen)
					continue
				}
				r.Key = nameKey
			}
			recs = append(recs, r)
		}
		if err := st.SaveOverrides(a.ctx, recs); err != nil {
			return err
		}
		return a.applyNow(st, pipeline, row.ID, f, fmt.Sprintf("%s %s for %s at %s (%s)", action+"ed", orNone(id), row.ID, prov, strings.Join(scopes, "+")))
	}
	return cmd
}

// lazyPipeline builds the worker's engine (with st's overrides) on first
// use; close releases it if it was built.
func (a *app) lazyPipeline(st *store.Store) (get func() (rematchPipeline, error), close func()) {
	var p rematchPipeline
	get = func() (rematchPipeline, error) {
		if p != nil {
			return p, nil
		}
		wcfg, err := config.LoadWorker(a.env.Environ)
		if err != nil {
			return nil, err
		}
		p, err = newRematchPipeline(wcfg, zap.NewNop(), st)
		return p, err
	}
	return get, func() {
		if p != nil {
			p.Close()
		}
	}
}

// trackRow reads an enriched track, with a clear error for an unknown id.
func trackRow(ctx context.Context, st *store.Store, id string) (store.RematchRow, error) {
	row, err := st.RematchRowOf(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return row, fmt.Errorf("no enriched track %q", Escape(id))
	}
	return row, err
}

func orNone(id string) string {
	if id == "" {
		return "no match"
	}
	return id
}

func scopesOf(s string) ([]string, error) {
	switch s {
	case "both":
		return []string{enrich.ScopeTrack, enrich.ScopeName}, nil
	case enrich.ScopeTrack, enrich.ScopeName:
		return []string{s}, nil
	}
	return nil, usageErr("--scope %q is not track, name or both", s)
}

// normalizeProviderID checks an id given on the command line as the
// provider writes it (a Spotify URI or URL is taken too).
func normalizeProviderID(prov, raw string) (string, error) {
	switch prov {
	case enrich.ProviderSpotify:
		if id, ok := task.NormalizeSpotifyID(raw); ok {
			return id, nil
		}
		return "", usageErr("%q is not a Spotify track id (22 letters and digits, or a spotify:track: URI or URL)", Escape(raw))
	case enrich.ProviderMusicBrainz:
		if id, ok := task.NormalizeMBID(raw); ok {
			return id, nil
		}
		return "", usageErr("%q is not a MusicBrainz recording MBID", Escape(raw))
	default:
		if id, ok := task.NormalizeDiscogsReleaseID(raw); ok {
			return strconv.FormatInt(id, 10), nil
		}
		return "", usageErr("%q is not a Discogs release id", Escape(raw))
	}
}

// acceptedRecording is the recording an accept stores: the close call's
// candidate with that id, else the provider's answer for the id (cached,
// or fetched within the fleet's quotas); of a Discogs release, the track
// closest to the line.
func acceptedRecording(ctx context.Context, st *store.Store, pipeline func() (rematchPipeline, error),
	row store.RematchRow, prov, id string) (provider.Recording, error) {
	reviews, err := st.Reviews(ctx, store.ReviewFilter{TrackID: row.ID, Provider: prov})
	if err != nil {
		return provider.Recording{}, err
	}
	q := match.Query{Track: match.Parse(row.Artist, row.Title), DurationMS: row.DurationMS}
	var recs []provider.Recording
	for _, r := range reviews {
		for _, c := range r.Candidates {
			if c.Recording.ID == id {
				recs = append(recs, c.Recording)
			}
		}
	}
	if len(recs) == 0 {
		p, err := pipeline()
		if err != nil {
			return provider.Recording{}, err
		}
		l, ok := p.(interface {
			Lookup(ctx context.Context, prov, id string) ([]provider.Recording, error)
		})
		if !ok {
			return provider.Recording{}, fmt.Errorf("cannot look %s up at %s", id, prov)
		}
		if recs, err = l.Lookup(ctx, prov, id); err != nil {
			if provider.IsNotFound(err) {
				return provider.Recording{}, fmt.Errorf("%s has no recording %s", prov, Escape(id))
			}
			return provider.Recording{}, err
		}
	}
	r, ok := match.Closest(q, recs)
	if !ok {
		return provider.Recording{}, fmt.Errorf("%s has no recording %s", prov, Escape(id))
	}
	if r.Provider == "" {
		r.Provider = prov
	}
	r.ID = id
	return r, nil
}

// applyNow decides the track again at once with the overrides (from the
// cached provider answers, as rematch does) and writes the decision.
func (a *app) applyNow(st *store.Store, pipeline func() (rematchPipeline, error), trackID string, f *decideFlags, what string) error {
	report := map[string]any{"decision": what, "applied": false}
	if !f.noApply {
		changes, err := redecide(a.ctx, st, pipeline, trackID)
		if err != nil {
			return fmt.Errorf("%s is recorded, but the row was not decided again (its next enrichment applies it): %w", what, err)
		}
		report["applied"] = true
		report["changes"] = nonNil(changes)
	}
	if f.out.json() {
		return writeJSON(a.env.Stdout, report)
	}
	fmt.Fprintln(a.env.Stdout, Escape(what))
	if changes, ok := report["changes"].([]fieldChange); ok {
		if len(changes) == 0 {
			fmt.Fprintln(a.env.Stdout, "applied: the row already held this decision")
		}
		for _, c := range changes {
			fmt.Fprintf(a.env.Stdout, "applied: %s %s -> %s\n", c.Field, orDash(Escape(c.From)), orDash(Escape(c.To)))
		}
	}
	return nil
}

// redecide decides one track again with the worker's engine and the
// overrides, and writes the result as rematch does (a partial result
// replaces nothing it could not decide).
func redecide(ctx context.Context, st *store.Store, pipeline func() (rematchPipeline, error), trackID string) ([]fieldChange, error) {
	p, err := pipeline()
	if err != nil {
		return nil, err
	}
	row, err := st.RematchRowOf(ctx, trackID)
	if err != nil {
		return nil, err
	}
	t := rematchTask(row)
	r, err := p.Enrich(ctx, t)
	if err != nil {
		return nil, err
	}
	changes := diffDecision(row, r)
	w := store.Write{Task: t, Result: r, Attempts: row.Attempts, LastError: row.LastError, Replace: r.Status != enrich.StatusPartial}
	if err := st.SaveBatch(ctx, []store.Write{w}); err != nil {
		return nil, err
	}
	return changes, nil
}

func newReviewClearCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "clear TRACK_ID [PROVIDER...]",
		Short: "Remove the overrides of a track (by its id and its name), so the matcher decides it again",
		Example: "  enrichctl review clear set01-t07\n" +
			"  enrichctl review clear set01-t07 discogs",
		Args: cobra.MinimumNArgs(1),
	}
	f := addDecideFlags(a, cmd, false)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		provs := args[1:]
		for _, p := range provs {
			if err := checkProvider(p); err != nil {
				return err
			}
		}
		st, err := a.openStore(f.dbURL)
		if err != nil {
			return err
		}
		defer st.Close()
		row, err := trackRow(a.ctx, st, args[0])
		if err != nil {
			return err
		}
		n, err := st.DeleteOverrides(a.ctx, row.ID, match.NameKey(row.Artist, row.Title), provs)
		if err != nil {
			return err
		}
		pipeline, closePipeline := a.lazyPipeline(st)
		defer closePipeline()
		return a.applyNow(st, pipeline, row.ID, f, fmt.Sprintf("cleared %d overrides of %s", n, row.ID))
	}
	return cmd
}
