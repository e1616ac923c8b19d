package enrichctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/task"
)

// finalOutcomes are the enrichment_tasks_total outcomes that end a task.
var finalOutcomes = []string{"completed", "partial", "not_found", "failed", "invalid"}

func summary(ctx context.Context, cfg config.Common, args []string, e Env) error {
	fs := newFlags("summary", e)
	expect := fs.Int("expect", 0, "wait until the workers have settled this many tasks (default: the valid tasks in --file)")
	metricsURLs := fs.String("metrics", "", "comma-separated worker /metrics URLs")
	file := fs.String("file", "", "report only the track_ids of this JSONL/CSV file")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up waiting after this long")
	dbURL := fs.String("database-url", cfg.DatabaseURL, "Postgres URL (DATABASE_URL)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	urls := splitList(*metricsURLs)
	var ids []string
	if *file != "" {
		var n int
		var err error
		if ids, n, err = trackIDs(*file, e); err != nil {
			return err
		}
		if *expect == 0 {
			*expect = n
		}
	}
	if *expect > 0 && len(urls) == 0 {
		return fmt.Errorf("%w: --expect needs --metrics", ErrUsage)
	}
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var final map[string]float64
	var scraped map[string]*dto.MetricFamily
	for {
		var err error
		scraped, err = scrapeAll(wctx, urls)
		if err == nil {
			final = labelSums(scraped["enrichment_tasks_total"], "outcome")
			if sumOf(final, finalOutcomes) >= float64(*expect) {
				break
			}
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("timed out after %s: workers settled %.0f of %d tasks (last scrape error: %v)",
				*timeout, sumOf(final, finalOutcomes), *expect, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	elapsed := time.Since(start)

	pool, err := pgxpool.New(ctx, *dbURL)
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	defer pool.Close()
	statuses, sources, rows, err := statusCounts(ctx, pool, ids)
	if err != nil {
		return err
	}

	w := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "SUMMARY\t")
	fmt.Fprintf(w, "tracks with a status row\t%d\n", rows)
	for _, s := range []string{"completed", "partial", "not_found", "failed"} {
		fmt.Fprintf(w, "  %s\t%d\n", s, statuses[s])
	}
	for _, p := range []string{"spotify", "musicbrainz", "discogs"} {
		fmt.Fprintf(w, "matched by %s\t%d\n", p, sources[p])
	}
	fmt.Fprintf(w, "dead-lettered (invalid/permanent/exhausted)\t%.0f\n", sumOf(labelSums(scraped["enrichment_dead_lettered_total"], "reason"), nil))
	fmt.Fprintf(w, "retries scheduled\t%.0f\n", sumOf(labelSums(scraped["enrichment_retries_total"], "tier"), nil))
	cache := labelSums(scraped["enrichment_cache_requests_total"], "result")
	if total := cache["hit"] + cache["miss"]; total > 0 {
		fmt.Fprintf(w, "cache hit rate\t%.1f%% (%.0f of %.0f)\n", 100*cache["hit"]/total, cache["hit"], total)
	} else {
		fmt.Fprintf(w, "cache hit rate\tn/a (no cached provider calls)\n")
	}
	settled := sumOf(final, finalOutcomes)
	fmt.Fprintf(w, "tasks settled by workers\t%.0f\n", settled)
	if elapsed > 0 && *expect > 0 {
		fmt.Fprintf(w, "throughput\t%.1f tasks/s (%d tasks in %s)\n", float64(*expect)/elapsed.Seconds(), *expect, elapsed.Round(time.Millisecond))
	}
	return w.Flush()
}

func sumOf(m map[string]float64, keys []string) float64 {
	var s float64
	if keys == nil {
		for _, v := range m {
			s += v
		}
		return s
	}
	for _, k := range keys {
		s += m[k]
	}
	return s
}

func labelSums(mf *dto.MetricFamily, label string) map[string]float64 {
	out := map[string]float64{}
	if mf == nil {
		return out
	}
	for _, m := range mf.GetMetric() {
		var v float64
		switch {
		case m.GetCounter() != nil:
			v = m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			v = m.GetGauge().GetValue()
		}
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label {
				out[lp.GetValue()] += v
			}
		}
	}
	return out
}

// scrapeAll fetches every URL and merges the families.
func scrapeAll(ctx context.Context, urls []string) (map[string]*dto.MetricFamily, error) {
	merged := map[string]*dto.MetricFamily{}
	for _, u := range urls {
		fams, err := scrape(ctx, u)
		if err != nil {
			return nil, err
		}
		for name, f := range fams {
			if m, ok := merged[name]; ok {
				m.Metric = append(m.Metric, f.Metric...)
			} else {
				merged[name] = f
			}
		}
	}
	return merged, nil
}

func scrape(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("metrics URL %q: %w", url, err)
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse metrics from %s: %w", url, err)
	}
	return fams, nil
}

// trackIDs reads the distinct valid track_ids of a JSONL or CSV file and
// counts its valid tasks.
func trackIDs(path string, e Env) ([]string, int, error) {
	src, err := openSource(path, e)
	if err != nil {
		return nil, 0, err
	}
	defer src.close()
	seen := map[string]bool{}
	var ids []string
	valid := 0
	for {
		body, _, err := src.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			continue
		}
		t, err := task.Parse(body, "", 0)
		if err != nil {
			continue
		}
		valid++
		if seen[t.TrackID] {
			continue
		}
		seen[t.TrackID] = true
		ids = append(ids, t.TrackID)
	}
	sort.Strings(ids)
	return ids, valid, nil
}

func statusCounts(ctx context.Context, pool *pgxpool.Pool, ids []string) (map[string]int, map[string]int, int, error) {
	q := `SELECT status, sources FROM enrichment_status`
	args := []any{}
	if ids != nil {
		q += ` WHERE track_id = ANY($1)`
		args = append(args, ids)
	}
	rows, err := pool.Query(ctx, q, args...)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read statuses: %w", err)
	}
	defer rows.Close()
	statuses, sources, n := map[string]int{}, map[string]int{}, 0
	for rows.Next() {
		var st string
		var src []string
		if err := rows.Scan(&st, &src); err != nil {
			return nil, nil, 0, fmt.Errorf("read statuses: %w", err)
		}
		n++
		statuses[st]++
		for _, s := range src {
			sources[strings.ToLower(s)]++
		}
	}
	return statuses, sources, n, rows.Err()
}
