package enrichctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/spf13/cobra"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/store"
)

// Status defaults.
const (
	// RabbitMQAPIURLDefault is the management API (RABBITMQ_API_URL).
	RabbitMQAPIURLDefault = "http://guest:guest@localhost:15672"
	// DLQSampleDefault is how many DLQ messages status reads for its reasons.
	DLQSampleDefault  = 1000
	statusHTTPTimeout = 5 * time.Second
)

// Where the queue figures come from.
const (
	sourceAPI     = "management_api"
	sourcePassive = "passive_declare"
)

// statusReport is what `enrichctl status` shows; --json prints it as is.
type statusReport struct {
	GeneratedAt time.Time `json:"generated_at"`
	VHost       string    `json:"vhost"`
	// BrokerSource is management_api, or passive_declare when the API could
	// not be reached (then unacked counts are unknown: null).
	BrokerSource  string        `json:"broker_source"`
	BrokerWarning string        `json:"broker_warning,omitempty"`
	Queues        []queueStatus `json:"queues"`
	DLQ           *dlqStatus    `json:"dlq"`
	// Statuses counts enrichment_status rows per status, read live.
	Statuses map[string]int64 `json:"statuses"`
	// Coverage is enrichment_coverage_stats, refreshed first unless
	// --no-refresh.
	Coverage          *store.Coverage `json:"coverage"`
	CoverageRefreshed bool            `json:"coverage_refreshed"`
	OldestPending     *oldestPending  `json:"oldest_pending"`
	// Providers is each enabled provider's use of its fleet-wide rate, and
	// Backlog the estimate of how long the queued tasks will take.
	Providers []providerQuota  `json:"providers"`
	Backlog   *backlogEstimate `json:"backlog"`
	// Errors lists the parts that could not be read; the rest is reported.
	Errors []string `json:"errors,omitempty"`
}

type queueStatus struct {
	Name string `json:"name"`
	Role string `json:"role"` // work, retry, dead_letter, or the name's suffix (priority)
	Tier string `json:"tier,omitempty"`
	// Source is where these figures come from (see statusReport).
	Source    string `json:"source"`
	Ready     int64  `json:"ready"`
	Unacked   *int64 `json:"unacked"`
	Consumers int64  `json:"consumers"`
	// Missing: the queue does not exist (run queue-init).
	Missing bool `json:"missing,omitempty"`
	// HeadMessageTimestamp is the timestamp property of the message at the
	// head, when the broker reports it (classic queues only).
	HeadMessageTimestamp *time.Time `json:"head_message_timestamp,omitempty"`
}

type dlqStatus struct {
	Messages int `json:"messages"`
	// Sampled messages were read (and requeued) to count reasons;
	// SampleComplete says they were all of them.
	Sampled        int           `json:"sampled"`
	SampleComplete bool          `json:"sample_complete"`
	Reasons        []reasonCount `json:"top_reasons"`
}

type oldestPending struct {
	// Source is queue_head (the work queue's head message timestamp) or
	// track_without_status (the oldest track that has no status row).
	Source     string    `json:"source"`
	TrackID    string    `json:"track_id,omitempty"`
	Since      time.Time `json:"since"`
	AgeSeconds float64   `json:"age_seconds"`
}

type statusOptions struct {
	AMQPURL, DatabaseURL, APIURL string
	// Environ is read for REDIS_URL, CACHE_PREFIX, PROVIDERS and the
	// *_RATE settings (nil: the process environment).
	Environ   map[string]string
	Topology  broker.Topology
	Refresh   bool
	DLQSample int
}

func init() { register(newStatusCmd) }

func newStatusCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show queues, DLQ reasons, statuses, coverage and the oldest pending task",
		Long: "status reports, for the vhost of AMQP_URL: every queue of the topology (ready, unacked,\n" +
			"consumers, from the management API at RABBITMQ_API_URL or else passive declares), the DLQ's\n" +
			"reasons, enrichment_status counts, the coverage view (refreshed first unless --no-refresh),\n" +
			"the oldest pending task, each provider's use of its fleet rate in the last 10 minutes (from\n" +
			"the limiter's counts in Redis: REDIS_URL, CACHE_PREFIX, *_RATE) and how long the backlog\n" +
			"will take at the pace of the last 10 minutes. A part that cannot be read is listed under ERROR and the exit\n" +
			"status is 1; the other parts are still shown.",
		Args: noArgs,
	}
	noRefresh := cmd.Flags().Bool("no-refresh", false, "read enrichment_coverage_stats as last refreshed instead of refreshing it")
	sample := cmd.Flags().Int("dlq-sample", DLQSampleDefault, "read at most N DLQ messages (put back) to count reasons; 0: none")
	apiURL := a.urlFlag(cmd, "rabbitmq-api-url", "RABBITMQ_API_URL", "management API URL")
	amqpURL := a.urlFlag(cmd, "amqp-url", "AMQP_URL", "broker URL; its vhost is the one reported")
	dbURL := a.urlFlag(cmd, "database-url", "DATABASE_URL", "Postgres URL")
	out := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *sample < 0 {
			return usageErr("--dlq-sample must not be negative, got %d", *sample)
		}
		cfg, err := a.config()
		if err != nil {
			return err
		}
		rep := collectStatus(a.ctx, statusOptions{
			AMQPURL: amqpURL.or(cfg.AMQPURL), DatabaseURL: dbURL.or(cfg.DatabaseURL),
			APIURL:   apiURL.or(a.env.getenv("RABBITMQ_API_URL", RabbitMQAPIURLDefault)),
			Topology: broker.NewTopology(cfg.RetryDelays, cfg.DeliveryLimit),
			Refresh:  !*noRefresh, DLQSample: *sample, Environ: a.env.Environ,
		})
		if out.json() {
			err = writeJSON(a.env.Stdout, rep)
		} else {
			err = writeStatusTable(a.env.Stdout, rep)
		}
		if err != nil {
			return err
		}
		if len(rep.Errors) > 0 {
			return fmt.Errorf("status incomplete: %s", strings.Join(rep.Errors, "; "))
		}
		return nil
	}
	return cmd
}

// collectStatus gathers every part it can; a part that fails is named in
// Errors and the others are still reported.
func collectStatus(ctx context.Context, o statusOptions) statusReport {
	now := time.Now()
	rep := statusReport{GeneratedAt: now.UTC()}
	fail := func(err error) { rep.Errors = append(rep.Errors, err.Error()) }

	uri, err := amqp.ParseURI(o.AMQPURL)
	if err != nil {
		fail(fmt.Errorf("AMQP_URL: %w", err))
	}
	rep.VHost = uri.Vhost
	rep.Queues = make([]queueStatus, 0, len(o.Topology.Queues()))
	for _, q := range o.Topology.Queues() {
		qs := queueStatus{Name: q}
		switch {
		case q == broker.WorkQueue:
			qs.Role = "work"
		case q == broker.DeadLetterQueue:
			qs.Role = "dead_letter"
		case strings.HasPrefix(q, broker.RetryQueuePrefix):
			qs.Role, qs.Tier = "retry", strings.TrimPrefix(q, broker.RetryQueuePrefix)
		default: // e.g. the priority lane
			qs.Role = strings.TrimPrefix(q, "metadata_enrichment_")
		}
		rep.Queues = append(rep.Queues, qs)
	}

	rep.BrokerSource = sourceAPI
	api, err := newMgmtClient(o.APIURL)
	if err == nil {
		err = queuesFromAPI(ctx, api, rep.VHost, rep.Queues)
	}
	if err != nil {
		rep.BrokerSource = sourcePassive
		rep.BrokerWarning = fmt.Sprintf("management API unavailable (%v): ready and consumers from passive declares, unacked unknown", err)
		for i := range rep.Queues {
			q := &rep.Queues[i]
			*q = queueStatus{Name: q.Name, Role: q.Role, Tier: q.Tier}
		}
	}
	sess, err := broker.Dial(o.AMQPURL, "enrichctl-status")
	if err != nil {
		fail(err)
	} else {
		defer sess.Close()
		// Queues the API had no figures for (or all, without the API).
		if err := queuesFromPassive(sess.Connection(), rep.Queues); err != nil {
			fail(err)
		}
		if o.DLQSample > 0 {
			msgs, depth, err := sampleDLQ(sess.Connection(), dlqFilter{}, o.DLQSample)
			if err != nil {
				fail(fmt.Errorf("read the DLQ: %w", err))
			} else {
				rep.DLQ = &dlqStatus{Messages: depth, Sampled: len(msgs), SampleComplete: len(msgs) >= depth,
					Reasons: reasonCounts(msgs)}
			}
		}
	}
	for _, q := range rep.Queues {
		if rep.DLQ == nil && o.DLQSample == 0 && q.Role == "dead_letter" && q.Source != "" && !q.Missing {
			rep.DLQ = &dlqStatus{Messages: int(q.Ready), Reasons: []reasonCount{}}
		}
	}
	for _, q := range rep.Queues {
		if q.Role == "work" && q.HeadMessageTimestamp != nil {
			rep.OldestPending = &oldestPending{Source: "queue_head", Since: *q.HeadMessageTimestamp,
				AgeSeconds: max(now.Sub(*q.HeadMessageTimestamp), 0).Seconds()}
		}
	}

	st, err := store.Open(ctx, o.DatabaseURL, 2)
	if err != nil {
		fail(err)
		return rep
	}
	defer st.Close()
	if o.Refresh {
		if err := st.RefreshCoverage(ctx); err != nil {
			fail(err)
		} else {
			rep.CoverageRefreshed = true
		}
	}
	if c, err := st.Coverage(ctx); err != nil {
		fail(err)
	} else {
		rep.Coverage = &c
	}
	if rep.Statuses, err = st.StatusCounts(ctx); err != nil {
		fail(err)
	}
	if rep.OldestPending == nil {
		p, ok, err := st.OldestWithoutStatus(ctx)
		switch {
		case err != nil:
			fail(err)
		case ok:
			rep.OldestPending = &oldestPending{Source: "track_without_status", TrackID: p.ID, Since: p.CreatedAt.UTC(),
				AgeSeconds: max(now.Sub(p.CreatedAt), 0).Seconds()}
		}
	}
	collectQuota(ctx, &rep, o.Environ, st)
	return rep
}

// mgmtClient reads queues from the RabbitMQ management HTTP API.
type mgmtClient struct {
	base       string // scheme://host[:port][/prefix], no credentials
	user, pass string
	hc         *http.Client
}

func newMgmtClient(raw string) (*mgmtClient, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("RABBITMQ_API_URL: want http(s)://user:password@host:port, got %q", redactURL(raw))
	}
	c := &mgmtClient{hc: &http.Client{Timeout: statusHTTPTimeout}}
	if u.User != nil {
		c.user = u.User.Username()
		c.pass, _ = u.User.Password()
	}
	u.User = nil
	c.base = strings.TrimSuffix(u.String(), "/")
	return c, nil
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// errQueueNotFound is the API's 404 for a queue.
var errQueueNotFound = errors.New("queue not found")

// mgmtQueue is the part of GET /api/queues/{vhost}/{name} status uses.
// Figures are absent until the queue first emits statistics.
type mgmtQueue struct {
	Ready     *int64          `json:"messages_ready"`
	Unacked   *int64          `json:"messages_unacknowledged"`
	Consumers *int64          `json:"consumers"`
	HeadTS    json.RawMessage `json:"head_message_timestamp"`
}

func (c *mgmtClient) queue(ctx context.Context, vhost, name string) (mgmtQueue, error) {
	ctx, cancel := context.WithTimeout(ctx, statusHTTPTimeout)
	defer cancel()
	u := c.base + "/api/queues/" + url.PathEscape(vhost) + "/" + url.PathEscape(name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return mgmtQueue{}, fmt.Errorf("management API request: %w", err)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return mgmtQueue{}, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return mgmtQueue{}, errQueueNotFound
	case resp.StatusCode != http.StatusOK:
		return mgmtQueue{}, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	var q mgmtQueue
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&q); err != nil {
		return mgmtQueue{}, fmt.Errorf("decode GET %s: %w", u, err)
	}
	return q, nil
}

// queuesFromAPI fills qs from the management API. An error means the API
// is unusable and nothing should be trusted from it.
func queuesFromAPI(ctx context.Context, c *mgmtClient, vhost string, qs []queueStatus) error {
	for i := range qs {
		q := &qs[i]
		mq, err := c.queue(ctx, vhost, q.Name)
		if errors.Is(err, errQueueNotFound) {
			q.Missing, q.Source = true, sourceAPI
			continue
		}
		if err != nil {
			return err
		}
		if mq.Ready == nil {
			// No statistics yet (a queue declared a moment ago): the
			// broker's own figures are as good.
			continue
		}
		q.Source = sourceAPI
		q.Ready = *mq.Ready
		q.Unacked = mq.Unacked
		if mq.Consumers != nil {
			q.Consumers = *mq.Consumers
		}
		if secs, err := strconv.ParseInt(string(mq.HeadTS), 10, 64); err == nil && secs > 0 {
			t := time.Unix(secs, 0).UTC()
			q.HeadMessageTimestamp = &t
		}
	}
	return nil
}

// queuesFromPassive fills the ready and consumer counts of the queues that
// have no figures yet, with passive declares (which never change a queue).
func queuesFromPassive(conn *amqp.Connection, qs []queueStatus) error {
	for i := range qs {
		q := &qs[i]
		if q.Source != "" {
			continue
		}
		ch, err := conn.Channel()
		if err != nil {
			return fmt.Errorf("open channel: %w", err)
		}
		st, err := ch.QueueDeclarePassive(q.Name, true, false, false, false, nil)
		var aerr *amqp.Error
		switch {
		case errors.As(err, &aerr) && aerr.Code == amqp.NotFound:
			q.Missing = true
		case err != nil:
			return fmt.Errorf("inspect %s: %w", q.Name, err)
		default:
			q.Ready, q.Consumers = int64(st.Messages), int64(st.Consumers)
			_ = ch.Close()
		}
		q.Source = sourcePassive
	}
	return nil
}

// statusSections write the parts of the status table, in order. A new
// part of the report is a field of statusReport, filled in collectStatus,
// and a section here.
var statusSections = []func(tw io.Writer, r statusReport){
	writeQueuesSection,
	writeDLQSection,
	writeStatusesSection,
	writeCoverageSection,
	writeOldestPendingSection,
	writeProvidersSection,
}

// writeStatusTable writes the report for a terminal. Text that comes from
// the broker or the database (reasons, track ids, error messages) is
// escaped.
func writeStatusTable(w io.Writer, r statusReport) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, section := range statusSections {
		section(tw, r)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(tw, "ERROR: %s\n", Escape(e))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}

func writeQueuesSection(tw io.Writer, r statusReport) {
	fmt.Fprintln(tw, "QUEUE\tROLE\tREADY\tUNACKED\tCONSUMERS")
	for _, q := range r.Queues {
		role := q.Role
		if q.Tier != "" {
			role += " " + q.Tier
		}
		name, role := Escape(q.Name), Escape(role)
		if q.Missing {
			fmt.Fprintf(tw, "%s\t%s\tmissing (run queue-init)\t\t\n", name, role)
			continue
		}
		if q.Source == "" {
			fmt.Fprintf(tw, "%s\t%s\t?\t?\t?\n", name, role)
			continue
		}
		unacked := "?"
		if q.Unacked != nil {
			unacked = strconv.FormatInt(*q.Unacked, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\n", name, role, q.Ready, unacked, q.Consumers)
	}
	if r.BrokerSource == sourceAPI {
		fmt.Fprintf(tw, "(vhost \"%s\", from the management API: figures lag by up to its statistics interval, 5s by default)\n", Escape(r.VHost))
	} else {
		fmt.Fprintf(tw, "(vhost \"%s\") WARNING: %s\n", Escape(r.VHost), Escape(r.BrokerWarning))
	}
	fmt.Fprintln(tw)
}

func writeDLQSection(tw io.Writer, r statusReport) {
	d := r.DLQ
	if d == nil {
		return
	}
	switch {
	case d.Messages == 0:
		fmt.Fprintln(tw, "DLQ: empty")
	case d.Sampled == 0:
		fmt.Fprintf(tw, "DLQ: %d message(s); reasons not read (--dlq-sample 0)\n", d.Messages)
	case d.SampleComplete:
		fmt.Fprintf(tw, "DLQ: %d message(s); reasons of all of them:\n", d.Messages)
	default:
		fmt.Fprintf(tw, "DLQ: %d message(s); reasons of the first %d:\n", d.Messages, d.Sampled)
	}
	for _, rc := range d.Reasons {
		fmt.Fprintf(tw, "  %s\t%d\n", Escape(rc.Reason), rc.Count)
	}
	fmt.Fprintln(tw)
}

func writeStatusesSection(tw io.Writer, r statusReport) {
	if r.Statuses == nil {
		return
	}
	fmt.Fprintln(tw, "STATUS\tTRACKS")
	for _, s := range []string{"completed", "partial", "not_found", "failed"} {
		fmt.Fprintf(tw, "%s\t%d\n", s, r.Statuses[s])
	}
	fmt.Fprintln(tw)
}

func writeCoverageSection(tw io.Writer, r statusReport) {
	c := r.Coverage
	if c == nil {
		return
	}
	how := "as last refreshed"
	if r.CoverageRefreshed {
		how = "refreshed now"
	}
	fmt.Fprintf(tw, "COVERAGE (%s, %s)\n", how, c.RefreshedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "tracks\t%d\n", c.TotalTracks)
	for _, row := range []struct {
		name string
		n    int64
		pct  *float64
	}{
		{"with a status", c.WithStatus, c.PctWithStatus},
		{"matched by spotify", c.MatchedSpotify, c.PctMatchedSpotify},
		{"matched by musicbrainz", c.MatchedMusicBrainz, c.PctMatchedMB},
		{"matched by discogs", c.MatchedDiscogs, c.PctMatchedDiscogs},
		{"spotify_id", c.WithSpotifyID, c.PctSpotifyID},
		{"isrc", c.WithISRC, c.PctISRC},
		{"musicbrainz_id", c.WithMusicBrainzID, c.PctMusicBrainzID},
		{"discogs_release_id", c.WithDiscogsReleaseID, c.PctDiscogsReleaseID},
		{"label", c.WithLabel, c.PctLabel},
		{"release_date", c.WithReleaseDate, c.PctReleaseDate},
		{"genres", c.WithGenres, c.PctGenres},
		{"duration", c.WithDuration, c.PctDuration},
	} {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", row.name, row.n, pct(row.pct))
	}
	fmt.Fprintf(tw, "never enriched\t%d\n", c.NeverEnriched)
	fmt.Fprintf(tw, "enriched over 90 days ago\t%d\n", c.Stale90d)
	if c.AvgConfidence != nil {
		fmt.Fprintf(tw, "average confidence\t%.3f\n", *c.AvgConfidence)
	}
	fmt.Fprintln(tw)
}

func writeOldestPendingSection(tw io.Writer, r statusReport) {
	switch p := r.OldestPending; {
	case p == nil:
		fmt.Fprintln(tw, "oldest pending: none")
	case p.Source == "queue_head":
		fmt.Fprintf(tw, "oldest pending: the work queue's head message, queued %s ago\n", ageString(p.AgeSeconds))
	default:
		fmt.Fprintf(tw, "oldest pending: track \"%s\", created %s ago, has no status row\n", Escape(p.TrackID), ageString(p.AgeSeconds))
	}
}

func pct(p *float64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatFloat(*p, 'f', 2, 64) + "%"
}

func ageString(secs float64) string {
	return time.Duration(secs * float64(time.Second)).Round(time.Second).String()
}
