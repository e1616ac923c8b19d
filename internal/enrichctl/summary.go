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
	"github.com/spf13/cobra"

	"github.com/djmeta/enrichment/internal/broker"
)

// finalOutcomes are the enrichment_tasks_total outcomes that end a task.
var finalOutcomes = []string{"completed", "partial", "not_found", "failed", "invalid"}

// SummaryDLQSampleDefault is how many DLQ messages summary reads to find
// the file's dead-lettered tracks.
const SummaryDLQSampleDefault = 10000

func init() { register(newSummaryCmd) }

// summaryReport is what summary reports; -o json prints it as is.
type summaryReport struct {
	// File is the input whose tracks are reported; empty: every track.
	File           string `json:"file,omitempty"`
	Tracks         int    `json:"tracks,omitempty"` // distinct track ids of the file's valid tasks
	InvalidRecords int    `json:"invalid_records,omitempty"`
	// WithStatus counts the tracks (of the file) that have a status row;
	// WithoutStatus those of the file that have none (not settled yet, or
	// dead-lettered before any row was written).
	WithStatus    int            `json:"with_status"`
	WithoutStatus *int           `json:"without_status,omitempty"`
	Statuses      map[string]int `json:"statuses"`
	MatchedBy     map[string]int `json:"matched_by"`
	// DLQ counts the file's tracks found in the DLQ, by reason.
	DLQ *summaryDLQ `json:"dlq,omitempty"`
	// Workers are the scraped workers' counters: every task they handled
	// since they started, not only the file's.
	Workers *summaryWorkers `json:"workers,omitempty"`
	// Throughput is present only when summary saw tasks settle while it
	// waited: the rate over that window.
	Throughput *summaryThroughput `json:"throughput,omitempty"`
}

type summaryDLQ struct {
	Messages       int            `json:"messages"` // of the file's tracks
	Reasons        map[string]int `json:"reasons"`
	Read           int            `json:"read"`  // DLQ messages read (and put back)
	Depth          int            `json:"depth"` // in the DLQ
	SampleComplete bool           `json:"sample_complete"`
}

type summaryWorkers struct {
	Settled      float64  `json:"tasks_settled"`
	DeadLettered float64  `json:"dead_lettered"`
	Retries      float64  `json:"retries_scheduled"`
	CacheHits    float64  `json:"cache_hits"`
	CacheLookups float64  `json:"cache_lookups"`
	CacheHitRate *float64 `json:"cache_hit_rate,omitempty"`
}

type summaryThroughput struct {
	Tasks          float64 `json:"tasks"` // settled while summary waited
	Seconds        float64 `json:"seconds"`
	TasksPerSecond float64 `json:"tasks_per_second"`
}

func newSummaryCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "summary",
		Short: "Report how the tracks of a file (or all tracks) ended, after waiting for the workers",
		Long: "summary reports the enrichment of the tracks of --file (or of every track without it) from\n" +
			"Postgres: statuses, matches per provider, tracks without a status row, and the file's tracks\n" +
			"in the DLQ with their reasons. These are true whenever it runs. With --metrics it first waits\n" +
			"until the workers have settled --expect tasks (default: the file's valid tasks) and adds the\n" +
			"workers' own counters (every task they handled since they started); a throughput figure is\n" +
			"shown only when tasks settled while it waited, measured over that wait.",
		Args: noArgs,
	}
	expect := cmd.Flags().Int("expect", 0, "wait until the workers have settled this many tasks (default: the valid tasks in --file)")
	metricsURLs := cmd.Flags().String("metrics", "", "comma-separated worker /metrics URLs")
	file := cmd.Flags().String("file", "", "report only the tracks of this JSONL or CSV file")
	format := cmd.Flags().String("format", "auto", "--file's format: auto, jsonl or csv")
	timeout := cmd.Flags().Duration("timeout", 5*time.Minute, "give up waiting after this long")
	dlqSample := cmd.Flags().Int("dlq-sample", SummaryDLQSampleDefault, "with --file, read at most N DLQ messages (put back) to find its tracks; 0: none")
	dbURL := a.urlFlag(cmd, "database-url", "DATABASE_URL", "Postgres URL")
	amqpURL := a.urlFlag(cmd, "amqp-url", "AMQP_URL", "broker URL (for the DLQ)")
	out := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		switch {
		case *expect < 0:
			return usageErr("--expect must not be negative, got %d", *expect)
		case *dlqSample < 0:
			return usageErr("--dlq-sample must not be negative, got %d", *dlqSample)
		}
		rep := summaryReport{File: *file, Statuses: map[string]int{}, MatchedBy: map[string]int{}}
		var ids []string
		if *file != "" {
			f, err := inputFormat(*format, *file)
			if err != nil {
				return err
			}
			var valid int
			if ids, valid, rep.InvalidRecords, err = trackIDs(*file, f, a.env.Stdin); err != nil {
				return err
			}
			rep.Tracks = len(ids)
			if *expect == 0 {
				*expect = valid
			}
		}
		urls := splitList(*metricsURLs)
		if cmd.Flags().Changed("expect") && len(urls) == 0 {
			return usageErr("--expect needs --metrics")
		}
		if len(urls) > 0 {
			w, tp, err := waitForWorkers(a.ctx, urls, *expect, *timeout)
			if err != nil {
				return err
			}
			rep.Workers, rep.Throughput = w, tp
		}
		db, err := a.databaseURL(dbURL)
		if err != nil {
			return err
		}
		if err := statusCounts(a.ctx, db, ids, &rep); err != nil {
			return err
		}
		if ids != nil {
			n := len(ids) - rep.WithStatus
			rep.WithoutStatus = &n
			if *dlqSample > 0 {
				d, err := dlqTracks(a, amqpURL, ids, *dlqSample)
				if err != nil {
					return err
				}
				rep.DLQ = d
			}
		}
		if out.json() {
			return writeJSON(a.env.Stdout, rep)
		}
		return writeSummary(a.env.Stdout, rep)
	}
	return cmd
}

// waitForWorkers scrapes the workers until they have settled expect tasks.
func waitForWorkers(ctx context.Context, urls []string, expect int, timeout time.Duration) (*summaryWorkers, *summaryThroughput, error) {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var (
		first, last    float64
		firstAt        time.Time
		scraped        map[string]*dto.MetricFamily
		err            error
		sawUnfinished  bool
		haveFirstCount bool
	)
	for {
		scraped, err = scrapeAll(wctx, urls)
		if err == nil {
			last = sumOf(labelSums(scraped["enrichment_tasks_total"], "outcome"), finalOutcomes)
			if !haveFirstCount {
				first, firstAt, haveFirstCount = last, time.Now(), true
			}
			if last >= float64(expect) {
				break
			}
			sawUnfinished = true
		}
		select {
		case <-wctx.Done():
			return nil, nil, fmt.Errorf("timed out after %s: workers settled %.0f of %d tasks (last scrape error: %v)",
				timeout, last, expect, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	w := &summaryWorkers{
		Settled:      last,
		DeadLettered: sumOf(labelSums(scraped["enrichment_dead_lettered_total"], "reason"), nil),
		Retries:      sumOf(labelSums(scraped["enrichment_retries_total"], "tier"), nil),
	}
	cache := labelSums(scraped["enrichment_cache_requests_total"], "result")
	w.CacheHits, w.CacheLookups = cache["hit"], cache["hit"]+cache["miss"]
	if w.CacheLookups > 0 {
		r := w.CacheHits / w.CacheLookups
		w.CacheHitRate = &r
	}
	var tp *summaryThroughput
	if elapsed := time.Since(firstAt).Seconds(); sawUnfinished && last > first && elapsed > 0 {
		tp = &summaryThroughput{Tasks: last - first, Seconds: elapsed, TasksPerSecond: (last - first) / elapsed}
	}
	return w, tp, nil
}

func writeSummary(w io.Writer, r summaryReport) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if r.File != "" {
		fmt.Fprintf(tw, "SUMMARY of %s\t\n", Escape(r.File))
		fmt.Fprintf(tw, "tracks in the file\t%d\n", r.Tracks)
		if r.InvalidRecords > 0 {
			fmt.Fprintf(tw, "records that are not valid tasks\t%d\n", r.InvalidRecords)
		}
	} else {
		fmt.Fprintln(tw, "SUMMARY of every track\t")
	}
	fmt.Fprintf(tw, "tracks with a status row\t%d\n", r.WithStatus)
	for _, s := range []string{"completed", "partial", "not_found", "failed"} {
		fmt.Fprintf(tw, "  %s\t%d\n", s, r.Statuses[s])
	}
	if r.WithoutStatus != nil {
		fmt.Fprintf(tw, "tracks without a status row\t%d\n", *r.WithoutStatus)
	}
	for _, p := range []string{"spotify", "musicbrainz", "discogs"} {
		fmt.Fprintf(tw, "matched by %s\t%d\n", p, r.MatchedBy[p])
	}
	if d := r.DLQ; d != nil {
		scope := "all"
		if !d.SampleComplete {
			scope = fmt.Sprintf("the first %d", d.Read)
		}
		fmt.Fprintf(tw, "in the DLQ\t%d (of %s of its %d message(s))\n", d.Messages, scope, d.Depth)
		reasons := make([]string, 0, len(d.Reasons))
		for k := range d.Reasons {
			reasons = append(reasons, k)
		}
		sort.Strings(reasons)
		for _, k := range reasons {
			fmt.Fprintf(tw, "  %s\t%d\n", Escape(k), d.Reasons[k])
		}
	}
	if wk := r.Workers; wk != nil {
		fmt.Fprintln(tw, "WORKERS (their counters since they started: all their tasks)\t")
		fmt.Fprintf(tw, "tasks settled\t%.0f\n", wk.Settled)
		fmt.Fprintf(tw, "dead-lettered\t%.0f\n", wk.DeadLettered)
		fmt.Fprintf(tw, "retries scheduled\t%.0f\n", wk.Retries)
		if wk.CacheHitRate != nil {
			fmt.Fprintf(tw, "cache hit rate\t%.1f%% (%.0f of %.0f)\n", 100**wk.CacheHitRate, wk.CacheHits, wk.CacheLookups)
		} else {
			fmt.Fprintln(tw, "cache hit rate\tn/a (no cached provider calls)")
		}
	}
	if tp := r.Throughput; tp != nil {
		fmt.Fprintf(tw, "throughput while summary waited\t%.1f tasks/s (%.0f tasks settled in %.1fs)\n", tp.TasksPerSecond, tp.Tasks, tp.Seconds)
	} else if r.Workers != nil {
		fmt.Fprintln(tw, "throughput\tnot measured (the tasks had settled before summary started)")
	}
	return tw.Flush()
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
		case m.GetUntyped() != nil:
			v = m.GetUntyped().GetValue()
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

// trackIDs reads the distinct track ids of the valid tasks of a JSONL or
// CSV file, and counts its valid and invalid records.
func trackIDs(path, format string, stdin io.Reader) (ids []string, valid, invalid int, err error) {
	lr, err := openInput(path, stdin, maxPublishLine, false)
	if err != nil {
		return nil, 0, 0, err
	}
	var src recordSource = &jsonlTasks{lr: lr}
	if format == "csv" {
		s, err := openCSV(lr, taskOptions{})
		if err != nil {
			lr.close()
			return nil, 0, 0, err
		}
		src = s
	}
	defer src.close()
	seen := map[string]bool{}
	for {
		rec, err := src.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, 0, err
		}
		if rec.err != nil {
			invalid++
			continue
		}
		valid++
		if id := rec.msg.MessageId; !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return nonNil(ids), valid, invalid, nil
}

// statusCounts counts the status rows of ids (nil: of every track).
func statusCounts(ctx context.Context, dbURL string, ids []string, rep *summaryReport) error {
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	defer pool.Close()
	q := `SELECT status, sources FROM enrichment_status`
	args := []any{}
	if ids != nil {
		q += ` WHERE track_id = ANY($1)`
		args = append(args, ids)
	}
	rows, err := pool.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read statuses: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var src []string
		if err := rows.Scan(&st, &src); err != nil {
			return fmt.Errorf("read statuses: %w", err)
		}
		rep.WithStatus++
		rep.Statuses[st]++
		for _, s := range src {
			rep.MatchedBy[strings.ToLower(s)]++
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read statuses: %w", err)
	}
	return nil
}

// dlqTracks counts the messages of the DLQ (up to sample) whose track is
// one of ids.
func dlqTracks(a *app, amqpURL *envURL, ids []string, sample int) (*summaryDLQ, error) {
	sess, err := a.dial(amqpURL, "enrichctl-summary")
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	msgs, depth, err := sampleDLQ(sess.Connection(), dlqFilter{}, sample)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", broker.DeadLetterQueue, err)
	}
	in := make(map[string]bool, len(ids))
	for _, id := range ids {
		in[id] = true
	}
	d := &summaryDLQ{Reasons: map[string]int{}, Read: len(msgs), Depth: depth, SampleComplete: len(msgs) >= depth}
	for _, m := range msgs {
		if in[m.TrackID] {
			d.Messages++
			d.Reasons[m.Reason]++
		}
	}
	return d, nil
}
