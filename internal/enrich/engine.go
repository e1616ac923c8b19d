package enrich

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/djmeta/enrichment/internal/cache"
	"github.com/djmeta/enrichment/internal/match"
	"github.com/djmeta/enrichment/internal/provider"
	"github.com/djmeta/enrichment/internal/task"
)

// Source is one enabled provider.
type Source struct {
	Client provider.Client
	// Guard, if set, wraps every call (circuit breaker, budget); an error it
	// returns without calling means the provider could not be asked.
	Guard func(ctx context.Context, call func(ctx context.Context) error) error
}

// Engine is the real Pipeline: for each enabled provider it looks up known
// ids first, then an ISRC (given or learned from an earlier provider), then
// searches (once more, wider, when nothing matched); it scores candidates
// with package match and merges the fields with a documented precedence
// (docs/matching.md).
type Engine struct {
	sources []Source // in query order: Spotify, MusicBrainz, Discogs
	cache   *cache.Cache
	match   match.Config
	log     *zap.Logger
	// overrides, when set, are read for every task (docs/curation.md).
	overrides OverrideSource
}

// WithOverrides makes e apply the overrides o holds: a provider with an
// override for the task is not asked; the override decides it. It returns
// e.
func (e *Engine) WithOverrides(o OverrideSource) *Engine {
	e.overrides = o
	return e
}

// NewEngine returns an Engine. Sources are queried in the order given; put
// those that yield ISRCs first. c may be nil (no caching).
func NewEngine(sources []Source, c *cache.Cache, mc match.Config, log *zap.Logger) *Engine {
	if log == nil {
		log = zap.NewNop()
	}
	if c == nil {
		c = cache.New(nil, cache.Config{})
	}
	return &Engine{sources: sources, cache: c, match: mc, log: log}
}

// providerOutcome is what one provider contributed.
type providerOutcome struct {
	name     string
	asked    bool
	err      error
	decision match.Decision
	best     *match.Candidate
	equiv    []match.Candidate
	via      string // id, isrc or search
	notes    []string
	// recs are the candidates the decision was taken on, so that it can be
	// taken again with what later providers establish (no request).
	recs []provider.Recording
	// empty reports that every search found nothing at all, the looser one
	// included.
	empty bool
	// override is the override that decided the provider (nil: asked).
	override *Override
	// review is the decision's close call, if it is one.
	review *match.CloseCall
}

// Enrich implements Pipeline.
func (e *Engine) Enrich(ctx context.Context, t task.Task) (Result, error) {
	parsed := match.Parse(t.Artist, t.Title)
	if parsed.Placeholder {
		return Result{Status: StatusNotFound, MatcherVersion: match.MatcherVersion, Metadata: map[string]any{
			"reason": "placeholder", "parsed": parsed, "matcher_version": match.MatcherVersion, "input": taskInput(t),
		}}, nil
	}
	var overrides map[string]Override
	if e.overrides != nil {
		var err error
		if overrides, err = e.overrides.Overrides(ctx, t.TrackID, match.NameKey(t.Artist, t.Title)); err != nil {
			return Result{}, fmt.Errorf("read the overrides of %s: %w", t.TrackID, err)
		}
	}
	q := match.Query{Track: parsed, DurationMS: t.DurationMS, ISRC: t.ISRC, Learned: &match.Learned{}}
	var pre *cache.Prefetched
	if t.ForceRefresh {
		ctx = provider.WithForceRefresh(ctx)
	} else {
		pre = e.cache.Prefetch(ctx, e.predictableKeys(t, q))
	}
	outs := make([]providerOutcome, 0, len(e.sources))
	for _, s := range e.sources {
		if ov, ok := overrides[s.Client.Name()]; ok {
			o := overridden(s.Client.Name(), ov)
			outs = append(outs, o)
			if o.best != nil {
				learn(&q, *o.best)
			}
			continue
		}
		o := e.ask(ctx, pre, s, t, &q, outs)
		provider.Started(ctx)
		if provider.IsQuotaWait(o.err) {
			// The task cannot wait for this provider's quota now: it is
			// deferred whole, without spending an attempt, and asks again
			// later; the answers fetched so far are cached.
			return Result{}, Deferred(o.err)
		}
		outs = append(outs, o)
		if o.best != nil {
			learn(&q, *o.best)
		}
	}
	e.decideAgain(t, &q, outs)
	return e.merge(t, parsed, outs)
}

// overridden is the outcome an override decides: the accepted recording
// (scored 1, rule "override"), or no match. No request is made.
func overridden(name string, ov Override) providerOutcome {
	o := providerOutcome{name: name, via: "override", override: &ov}
	if ov.Action == OverrideReject {
		o.decision = match.Decision{Reason: "rejected by an override (" + ov.By + ")"}
		return o
	}
	c := match.Candidate{Recording: ov.Recording, Track: match.ParseRecording(ov.Recording),
		Score: match.Score{Total: 1, Title: 1, Artist: 1, Rules: []string{"override"}}}
	o.decision = match.Decision{Best: &c, Considered: 1}
	o.best = &c
	return o
}

// learn adds what an accepted match establishes about the recording to q:
// its ISRC (when it has exactly one; the next providers look it up before
// searching), its length, the guests its credit names, and the other names
// of the line's artists (the candidate's credited names, its artists' own
// names and aliases).
func learn(q *match.Query, best match.Candidate) {
	l := q.Learned
	if q.ISRC == "" && len(best.Recording.ISRCs) == 1 {
		q.ISRC = best.Recording.ISRCs[0]
	}
	if l.DurationMS == 0 {
		l.DurationMS = best.Recording.DurationMS
	}
	for _, g := range best.Track.Featured {
		if !slices.Contains(l.Guests, g) {
			l.Guests = append(l.Guests, g)
		}
	}
	for _, a := range q.Track.Artists {
		for _, b := range best.Track.Artists {
			if ok, _ := match.NamesMatch(a, b, best.Track, l); !ok {
				continue
			}
			for _, n := range append([]string{b}, best.Track.AltNames[b]...) {
				if n != a && !slices.Contains(l.Aliases[a], n) {
					if l.Aliases == nil {
						l.Aliases = map[string][]string{}
					}
					l.Aliases[a] = append(l.Aliases[a], n)
				}
			}
		}
	}
}

// decideAgain takes again, with everything the providers established, the
// decision of each provider that found no match among its candidates (one
// that still finds none may be a close call, kept for review) (a
// guest that only a later provider's credit marks as such, a former name
// only a later provider knows, the length or ISRC of the recording): no
// request is made.
func (e *Engine) decideAgain(t task.Task, q *match.Query, outs []providerOutcome) {
	for i := range outs {
		o := &outs[i]
		if o.err != nil || o.best != nil || len(o.recs) == 0 {
			continue
		}
		qp := *q
		qp.ID = hintFor(o.name, t)
		d, cands := match.Choose(e.match, qp, o.recs)
		if d.Best == nil {
			// Still no match: a close call keeps its candidates for review.
			if cc, ok := match.CloseCallOf(e.match, d, cands); ok {
				o.review = &cc
			}
			continue
		}
		best := *d.Best
		o.decision, o.best, o.equiv = d, &best, d.Equivalent
		o.notes = append(o.notes, "decided again with what the other providers established")
		learn(q, best)
	}
}

// predictableKeys are the cache keys of the requests a task may make that
// do not depend on an earlier provider's answer: hinted ids, a given ISRC,
// the search and the wider search. Enrich reads them in one round trip; the
// others (an ISRC learned on the way) are read when needed.
func (e *Engine) predictableKeys(t task.Task, q match.Query) []string {
	broadArtist, broadTitle, broad := match.BroadQuery(t.Artist, t.Title)
	keys := make([]string, 0, 4*len(e.sources))
	for _, s := range e.sources {
		name := s.Client.Name()
		if id := hintFor(name, t); id != "" {
			keys = append(keys, e.cache.Key(name, cache.KindLookup, id))
		}
		if t.ISRC != "" && name != provider.Discogs {
			keys = append(keys, e.cache.Key(name, cache.KindISRC, t.ISRC))
		}
		keys = append(keys, e.searchKey(name, q, provider.Query{Artist: t.Artist, Title: t.Title}))
		if broad {
			keys = append(keys, e.searchKey(name, q, provider.Query{Artist: broadArtist, Title: broadTitle}))
		}
	}
	return keys
}

func (e *Engine) ask(ctx context.Context, pre *cache.Prefetched, s Source, t task.Task, q *match.Query, earlier []providerOutcome) providerOutcome {
	name := s.Client.Name()
	o := providerOutcome{name: name}
	call := func(ctx context.Context) error {
		o.asked = true
		d, recs, via, notes, err := e.candidates(ctx, pre, s.Client, t, q, earlier)
		o.via, o.notes, o.recs = via, notes, recs
		o.empty = err == nil && len(recs) == 0 && strings.Contains(via, "search")
		if err != nil {
			return err
		}
		o.decision = d
		if d.Best != nil {
			best := *d.Best
			o.best = &best
			o.equiv = d.Equivalent
		}
		return nil
	}
	var err error
	if s.Guard != nil {
		err = s.Guard(ctx, call)
	} else {
		err = call(ctx)
	}
	o.err = err
	return o
}

// candidates gathers candidates (known id, then ISRC, then search) and
// returns the decision on the last set gathered, with that set. A hinted id
// the provider does not know is dropped (never stored) and the track is
// searched instead. When the searches find nothing at all, one more search
// is spent (fuzzyRetry).
func (e *Engine) candidates(ctx context.Context, pre *cache.Prefetched, c provider.Client, t task.Task, q *match.Query,
	earlier []providerOutcome) (match.Decision, []provider.Recording, string, []string, error) {
	name := c.Name()
	choose := func(recs []provider.Recording) match.Decision {
		qp := *q
		qp.ID = hintFor(name, t)
		d, _ := match.Choose(e.match, qp, recs)
		return d
	}
	var notes []string
	if id := hintFor(name, t); id != "" {
		recs, err := e.fetch(ctx, pre, name, cache.KindLookup, t.ForceRefresh, func(ctx context.Context) ([]provider.Recording, error) {
			return c.ByID(ctx, id)
		}, id)
		switch {
		case err == nil && len(recs) > 0:
			return choose(recs), recs, "id", notes, nil
		case err == nil || provider.IsNotFound(err):
			notes = append(notes, fmt.Sprintf("hinted id %s does not exist at %s; searched instead", id, name))
		default:
			return match.Decision{}, nil, "id", notes, err
		}
	}
	if q.ISRC != "" && name != provider.Discogs {
		recs, err := e.fetch(ctx, pre, name, cache.KindISRC, t.ForceRefresh, func(ctx context.Context) ([]provider.Recording, error) {
			return c.ByISRC(ctx, q.ISRC)
		}, q.ISRC)
		switch {
		case err == nil && len(recs) > 0:
			if d := choose(recs); d.Best != nil {
				return d, recs, "isrc", notes, nil
			}
		case err != nil && !provider.IsNotFound(err):
			return match.Decision{}, nil, "isrc", notes, err
		}
	}
	search := func(pq provider.Query) ([]provider.Recording, error) {
		key := e.searchKey(name, *q, pq)
		recs, _, err := e.cache.FetchPrefetched(ctx, pre, name, cache.KindSearch, key, t.ForceRefresh, func(ctx context.Context) ([]provider.Recording, error) {
			if ss, ok := c.(provider.StoppingSearcher); ok {
				// A Discogs search looks releases up one by one: it stops
				// once the candidates so far decide this task.
				return ss.SearchUntil(ctx, pq, func(recs []provider.Recording) bool { return choose(recs).Best != nil })
			}
			return c.Search(ctx, pq)
		})
		if provider.IsNotFound(err) {
			return nil, nil
		}
		return recs, err
	}
	recs, err := search(provider.Query{Artist: t.Artist, Title: t.Title})
	if err != nil {
		return match.Decision{}, nil, "search", notes, err
	}
	first := choose(recs)
	if first.Best != nil {
		return first, recs, "search", notes, nil
	}
	via := "search"
	// No match: once more, wider (the first artist, no feat., no "Original
	// Mix"), when that is another request. Both answers are judged against
	// the full entry, so a wider search finds more but accepts no less.
	if artist, title, ok := match.BroadQuery(t.Artist, t.Title); ok {
		more, err := search(provider.Query{Artist: artist, Title: title})
		if err != nil {
			return match.Decision{}, nil, "broad search", notes, err
		}
		recs, via = appendNew(recs, more), "broad search"
		first = choose(recs)
		if first.Best != nil {
			return first, recs, via, notes, nil
		}
	}
	if len(recs) > 0 {
		return first, recs, via, notes, nil
	}
	pq, retry, ok := fuzzyRetry(name, t, earlier)
	if !ok {
		return first, recs, via, notes, nil
	}
	more, err := search(pq)
	if err != nil {
		return match.Decision{}, nil, retry, notes, err
	}
	return choose(more), more, retry, notes, nil
}

// fuzzyRetry is the one more search spent when the exact (and the wider)
// search found no candidate at all (docs/matching.md, section 5): the line
// spelled as an earlier provider's accepted match spells it, when that
// differs (a typo, another name); else, when no earlier provider matched, a
// looser search (provider.Query.Fuzzy: MusicBrainz fuzzy terms, Spotify
// words without filters; Discogs has none). An earlier provider that matched
// the line as spelled tells that this one lacks the recording: no retry.
func fuzzyRetry(name string, t task.Task, earlier []providerOutcome) (provider.Query, string, bool) {
	for _, o := range earlier {
		if o.best == nil {
			continue
		}
		r := o.best.Recording
		if len(r.Artists) == 0 || r.Title == "" {
			continue
		}
		// Spelled the same way (case, punctuation and "&" aside): the
		// provider lacks the recording. Spelled another way ("Two" for "2",
		// "N'" for "And", a typo, another name): a search with the spelling
		// that found it elsewhere may find it here too.
		if match.ArtistKey(match.PrimaryArtist(t.Artist)) == match.ArtistKey(r.Artists[0]) && match.SpellingKey(t.Title) == match.SpellingKey(r.Title) {
			return provider.Query{}, "", false
		}
		return provider.Query{Artist: r.Artists[0], Title: r.Title}, "search with " + o.name + "'s spelling", true
	}
	if name == provider.Discogs {
		return provider.Query{}, "", false
	}
	line := match.Query{Track: match.Parse(t.Artist, t.Title)}
	primary := match.ArtistKey(match.PrimaryArtist(t.Artist))
	for _, o := range earlier {
		if o.empty {
			// An earlier provider's searches, the looser one included, found
			// nothing at all: the line most likely names a recording no
			// provider has ("absent everywhere"), and the quota is kept.
			return provider.Query{}, "", false
		}
		known, close := false, false
		for _, r := range o.recs {
			if len(r.Artists) > 0 && match.ArtistKey(r.Artists[0]) == primary {
				known = true
				close = close || match.ScoreRecording(line, r).Score.Title >= match.TitleGate
			}
		}
		if known && !close {
			// An earlier provider knows the artist as the line spells it and
			// none of their titles there is close to the line's: the
			// recording is missing, not misspelt; the quota is kept.
			return provider.Query{}, "", false
		}
	}
	return provider.Query{Artist: t.Artist, Title: t.Title, Fuzzy: true}, "fuzzy search", true
}

// appendNew appends the recordings of more that recs does not hold yet.
func appendNew(recs, more []provider.Recording) []provider.Recording {
	type key struct{ id, pos string }
	seen := make(map[key]bool, len(recs))
	for _, r := range recs {
		seen[key{r.ID, r.Position}] = true
	}
	for _, r := range more {
		if k := (key{r.ID, r.Position}); !seen[k] {
			seen[k] = true
			recs = append(recs, r)
		}
	}
	return recs
}

func (e *Engine) fetch(ctx context.Context, pre *cache.Prefetched, prov, kind string, force bool,
	fn func(ctx context.Context) ([]provider.Recording, error), parts ...string) ([]provider.Recording, error) {
	key := e.cache.Key(prov, kind, parts...)
	recs, _, err := e.cache.FetchPrefetched(ctx, pre, prov, kind, key, force, fn)
	return recs, err
}

// searchKey is the cache key of a client search's candidates. A search
// that stops once the candidates decide the task (Discogs) depends also on
// the duration hint, which the matcher weighs to tell versions apart, and on
// the matcher's version, whose decisions tell it where to stop: a new
// matcher gathers its own candidates, each request answered from the
// request cache. (What an earlier provider established is left out, so that
// a warm task still knows all its keys up front; it seldom changes where a
// Discogs search stops.) A fuzzy search has a key of its own.
func (e *Engine) searchKey(name string, q match.Query, pq provider.Query) string {
	parts := []string{pq.Artist, pq.Title}
	if pq.Fuzzy {
		parts = append(parts, "fuzzy")
	}
	if name == provider.Discogs {
		parts = append(parts, fmt.Sprint(q.DurationMS), fmt.Sprint("matcher ", match.MatcherVersion))
	}
	return e.cache.Key(name, cache.KindSearch, parts...)
}

func hintFor(name string, t task.Task) string {
	switch name {
	case provider.Spotify:
		return t.SpotifyID
	case provider.MusicBrainz:
		return t.MusicBrainzID
	case provider.Discogs:
		if t.DiscogsReleaseID > 0 {
			return fmt.Sprint(t.DiscogsReleaseID)
		}
	}
	return ""
}

// field is one merged value with its provenance.
type field struct {
	Value  any     `json:"value"`
	Source string  `json:"source"` // a provider, or "override"
	Score  float64 `json:"score"`
	// Provider and By name the provider and the person of an override.
	Provider string `json:"provider,omitempty"`
	By       string `json:"by,omitempty"`
}

// merge combines the providers' matches (docs/matching.md, "Merging").
func (e *Engine) merge(t task.Task, parsed match.Track, outs []providerOutcome) (Result, error) {
	r := Result{Metadata: map[string]any{}}
	providers := map[string]any{}
	fields := map[string]field{}
	var conflicts []string
	var failed []string
	var rateLimited time.Duration
	var failErrs []error
	best := map[string]*match.Candidate{}
	equiv := map[string][]match.Candidate{}
	scores := 0.0
	overrides := map[string]*Override{}
	for _, o := range outs {
		info := map[string]any{"via": o.via}
		if len(o.notes) > 0 {
			info["notes"] = o.notes
		}
		if o.override != nil {
			ov := o.override
			overrides[o.name] = ov
			info["override"] = map[string]any{"action": ov.Action, "scope": ov.Scope, "by": ov.By, "at": ov.At.UTC().Format(time.RFC3339)}
			if ov.Action == OverrideReject {
				r.Withdrawn = append(r.Withdrawn, o.name)
			}
		}
		if o.err == nil {
			r.Decided = append(r.Decided, o.name)
		}
		if o.review != nil {
			r.Reviews = append(r.Reviews, Review{Provider: o.name, CloseCall: *o.review})
			info["close_call"] = o.review.Reason
		}
		if o.err != nil {
			failed = append(failed, o.name)
			failErrs = append(failErrs, o.err)
			info["error"] = o.err.Error()
			if d, ok := provider.RetryAfterOf(o.err); ok && d > rateLimited {
				rateLimited = d
			}
			providers[o.name] = info
			continue
		}
		info["considered"] = o.decision.Considered
		if o.best == nil {
			info["match"] = false
			info["reason"] = o.decision.Reason
			providers[o.name] = info
			continue
		}
		best[o.name] = o.best
		equiv[o.name] = o.equiv
		rec := o.best.Recording
		info["match"] = true
		info["id"] = rec.ID
		info["title"] = rec.Title
		info["artists"] = rec.Artists
		info["score"] = o.best.Score
		info["runner_up"] = o.decision.RunnerUp
		if rec.URL != "" {
			info["url"] = rec.URL
		}
		providers[o.name] = info
		r.Sources = append(r.Sources, o.name)
		scores += o.best.Score.Total
	}
	r.Metadata["providers"] = providers
	r.Metadata["parsed"] = parsed
	r.MatcherVersion = match.MatcherVersion
	r.Metadata["matcher_version"] = match.MatcherVersion
	r.Metadata["input"] = taskInput(t)

	if len(r.Sources) == 0 {
		if len(failed) > 0 && !slices.ContainsFunc(failErrs, transient) {
			// The providers that could not be asked are off, out of budget
			// or refuse us: no retry fixes that, so the task finishes
			// without them (partial, for backfill --partial to complete).
			r.Status = StatusPartial
			r.Metadata["not_asked"] = failed
			return r, nil
		}
		if len(failed) > 0 {
			err := fmt.Errorf("no match, and %s could not be asked: %w", strings.Join(failed, ", "), errors.Join(failErrs...))
			if rateLimited > 0 {
				return Result{}, RetryAfter(rateLimited, err)
			}
			return Result{}, err
		}
		r.Status = StatusNotFound
		return r, nil
	}
	r.Status = StatusCompleted
	if len(failed) > 0 {
		r.Status = StatusPartial
		r.Metadata["not_asked"] = failed
	}
	r.Confidence = round3(scores / float64(len(r.Sources)))

	set := func(name string, v any, src string, score float64) {
		if old, ok := fields[name]; ok {
			if fmt.Sprint(old.Value) != fmt.Sprint(v) {
				conflicts = append(conflicts, fmt.Sprintf("%s: %v (%s) vs %v (%s)", name, old.Value, old.Source, v, src))
			}
			return
		}
		f := field{Value: v, Source: src, Score: round3(score)}
		if ov := overrides[src]; ov != nil {
			// A person decided this provider: the override is the source.
			f.Source, f.Provider, f.By = "override", src, ov.By
		}
		fields[name] = f
	}
	sp, mb, dc := best[provider.Spotify], best[provider.MusicBrainz], best[provider.Discogs]
	if sp != nil {
		// The same recording on several albums has one Spotify id per album:
		// take the track of the release that first carried it.
		id := preferredCandidate(append([]match.Candidate{*sp}, equiv[provider.Spotify]...)).Recording.ID
		r.SpotifyID = id
		set("spotify_id", id, provider.Spotify, sp.Score.Total)
	}
	if mb != nil {
		r.MusicBrainzID = mb.Recording.ID
		set("musicbrainz_id", mb.Recording.ID, provider.MusicBrainz, mb.Score.Total)
	}
	if dc != nil {
		rel := preferredRelease(append([]match.Candidate{*dc}, equiv[provider.Discogs]...))
		if rel.ID != "" {
			var id int64
			if _, err := fmt.Sscan(rel.ID, &id); err == nil && id > 0 {
				r.DiscogsReleaseID = id
				set("discogs_release_id", id, provider.Discogs, dc.Score.Total)
			}
		}
	}
	// ISRC: Spotify's (one per track), then MusicBrainz's when it has one.
	for _, c := range []*match.Candidate{sp, mb} {
		if c != nil && len(c.Recording.ISRCs) > 0 {
			if v, ok := task.NormalizeISRC(c.Recording.ISRCs[0]); ok {
				if r.ISRC == "" {
					r.ISRC = v
				}
				set("isrc", v, c.Recording.Provider, c.Score.Total)
			}
		}
	}
	// Duration: MusicBrainz, Spotify, Discogs.
	for _, c := range []*match.Candidate{mb, sp, dc} {
		if c != nil && c.Recording.DurationMS > 0 {
			if r.DurationMS == 0 {
				r.DurationMS = c.Recording.DurationMS
				set("duration_ms", c.Recording.DurationMS, c.Recording.Provider, c.Score.Total)
			}
		}
	}
	// Release date: the earliest full date among the matched recordings'
	// releases, MusicBrainz first on ties.
	var dateSrc string
	var dateScore float64
	for _, prov := range []string{provider.MusicBrainz, provider.Spotify, provider.Discogs} {
		c := best[prov]
		if c == nil {
			continue
		}
		for _, cand := range append([]match.Candidate{*c}, equiv[prov]...) {
			for _, rel := range cand.Recording.Releases {
				if d, ok := parseDate(rel.Date); ok && (r.ReleaseDate.IsZero() || d.Before(r.ReleaseDate)) {
					r.ReleaseDate, dateSrc, dateScore = d, prov, c.Score.Total
				}
			}
		}
	}
	if !r.ReleaseDate.IsZero() {
		set("release_date", r.ReleaseDate.Format("2006-01-02"), dateSrc, dateScore)
	}
	// Label: Discogs (the chosen release), MusicBrainz, Spotify.
	for _, prov := range []string{provider.Discogs, provider.MusicBrainz, provider.Spotify} {
		c := best[prov]
		if c == nil || r.Label != "" {
			continue
		}
		rel := preferredRelease(append([]match.Candidate{*c}, equiv[prov]...))
		if rel.Label != "" {
			r.Label = rel.Label
			set("label", rel.Label, prov, c.Score.Total)
			if rel.CatalogNumber != "" {
				r.Metadata["catalog_number"] = rel.CatalogNumber
			}
		}
	}
	// Genres: Discogs genres and styles, then MusicBrainz genres/tags.
	var genres []string
	var genreSrc []string
	for _, prov := range []string{provider.Discogs, provider.MusicBrainz, provider.Spotify} {
		if c := best[prov]; c != nil {
			n := len(genres)
			for _, g := range append(slices.Clone(c.Recording.Genres), c.Recording.Styles...) {
				g = strings.ToLower(strings.TrimSpace(g))
				if g != "" && !slices.Contains(genres, g) {
					genres = append(genres, g)
				}
			}
			if len(genres) > n {
				genreSrc = append(genreSrc, prov)
			}
		}
	}
	if len(genres) > 0 {
		r.Genres = genres
		fields["genres"] = field{Value: genres, Source: strings.Join(genreSrc, ",")}
	}
	// The primary source is the best-scoring match.
	top := ""
	topScore := -1.0
	for _, prov := range r.Sources {
		if s := best[prov].Score.Total; s > topScore {
			top, topScore = prov, s
		}
	}
	r.SourceAPI = top
	r.Metadata["fields"] = fields
	if len(conflicts) > 0 {
		sort.Strings(conflicts)
		r.Metadata["conflicts"] = conflicts
	}
	return r, nil
}

// transient reports whether a provider failure may pass by itself (an
// outage, throttling), so a task with no match retries rather than finish
// without that provider. A provider that is off (refused credential), out
// of budget or refusing our requests is not transient.
func transient(err error) bool {
	switch provider.KindOf(err) {
	case provider.KindNotAvailable, provider.KindUnauthorized, provider.KindBadRequest:
		return false
	}
	return true
}

// preferredRelease picks the release that carries the version first: a
// single or EP before an album, an album before a compilation, then the
// earliest date.
func preferredRelease(cands []match.Candidate) provider.Release {
	var all []provider.Release
	for _, c := range cands {
		all = append(all, c.Recording.Releases...)
	}
	if len(all) == 0 {
		return provider.Release{}
	}
	sort.SliceStable(all, func(i, j int) bool { return releaseBefore(all[i], all[j]) })
	return all[0]
}

// preferredCandidate is the candidate on the preferred release (see
// preferredRelease); the first one when none names a release.
func preferredCandidate(cands []match.Candidate) match.Candidate {
	best := 0
	for i := 1; i < len(cands); i++ {
		if len(cands[i].Recording.Releases) == 0 {
			continue
		}
		if len(cands[best].Recording.Releases) == 0 ||
			releaseBefore(preferredRelease(cands[i:i+1]), preferredRelease(cands[best:best+1])) {
			best = i
		}
	}
	return cands[best]
}

// releaseBefore orders releases: single or EP, album, unknown, compilation;
// then the earlier known date.
func releaseBefore(a, b provider.Release) bool {
	rank := func(t string) int {
		switch t {
		case "single", "ep":
			return 0
		case "album":
			return 1
		case "compilation":
			return 3
		}
		return 2
	}
	if ra, rb := rank(a.Type), rank(b.Type); ra != rb {
		return ra < rb
	}
	da, oka := parseDate(a.Date)
	db, okb := parseDate(b.Date)
	if oka != okb {
		return oka
	}
	return oka && da.Before(db)
}

// parseDate reads YYYY-MM-DD, YYYY-MM or YYYY (the first day of the period).
func parseDate(s string) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02", "2006-01", "2006"} {
		if d, err := time.Parse(layout, s); err == nil && d.Year() > 1800 {
			return d, true
		}
	}
	return time.Time{}, false
}

func round3(x float64) float64 { return float64(int(x*1000+0.5)) / 1000 }

// taskInput is what the task told about the track besides the artist and
// title that tracks keeps: the hints, kept in metadata.input so that the
// decision can be taken again later from the same input (enrichctl
// rematch).
func taskInput(t task.Task) map[string]any {
	in := map[string]any{}
	if t.DurationMS > 0 {
		in["duration_ms"] = t.DurationMS
	}
	if t.ISRC != "" {
		in["isrc"] = t.ISRC
	}
	if t.SpotifyID != "" {
		in["spotify_id"] = t.SpotifyID
	}
	if t.MusicBrainzID != "" {
		in["musicbrainz_id"] = t.MusicBrainzID
	}
	if t.DiscogsReleaseID > 0 {
		in["discogs_release_id"] = t.DiscogsReleaseID
	}
	return in
}

// ErrNoProvider is returned by Lookup for a provider that is not enabled.
var ErrNoProvider = errors.New("provider not enabled")

// Lookup returns the recordings the provider knows under id (a Discogs
// release: its tracks), through the cache, the rate limits and the guards,
// as the engine looks a hinted id up (enrichctl review accept).
func (e *Engine) Lookup(ctx context.Context, prov, id string) ([]provider.Recording, error) {
	for _, s := range e.sources {
		if s.Client.Name() != prov {
			continue
		}
		var recs []provider.Recording
		call := func(ctx context.Context) error {
			var err error
			recs, err = e.fetch(ctx, nil, prov, cache.KindLookup, false, func(ctx context.Context) ([]provider.Recording, error) {
				return s.Client.ByID(ctx, id)
			}, id)
			return err
		}
		var err error
		if s.Guard != nil {
			err = s.Guard(ctx, call)
		} else {
			err = call(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("look %s up at %s: %w", id, prov, err)
		}
		return recs, nil
	}
	return nil, fmt.Errorf("%s: %w", prov, ErrNoProvider)
}
