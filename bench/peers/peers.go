// Package peers holds the consumers the pipeline is compared with, each
// doing only the database half of the job (decode a task, upsert tracks and
// its status row in one transaction, ack), plus the trivial consumer that
// gives the broker's ceiling. They live in the bench module so that the
// product's go.mod never requires watermill.
//
// Every peer writes through the product's own store.SaveBatch, so the
// Postgres work (the same two upserts, the same schema and trigger) is
// exactly the pipeline's; only the consuming and batching differ.
//
// A peer runs as a child process of the bench driver (bench peer -kind K):
// it prints "ready" once subscribed and "done <unix-nanos> <rss-kib> <first>" after
// its -expect'th commit (with the time of its first commit), then exits.
package peers

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/store"
	"github.com/djmeta/enrichment/internal/task"
)

// Kinds of peer.
const (
	KindCeiling        = "ceiling"         // consume and ack only
	KindWatermill      = "watermill"       // watermill-amqp v2 as its docs configure it
	KindWatermillTuned = "watermill-tuned" // the same, 16 handlers, prefetch 20
	KindBatch          = "amqp-batch"      // amqp091-go, up to 50 tasks per transaction
)

// Queue is the work queue every peer consumes (declared by queue-init).
const Queue = "metadata_enrichment_queue"

// Config is one peer's setup.
type Config struct {
	Kind     string
	AMQPURL  string
	DBURL    string
	Expect   int64
	Prefetch int
	Handlers int
	Batch    int
	Wait     time.Duration
	Writers  int
}

// Main runs one peer from command-line flags.
func Main(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("peer", flag.ContinueOnError)
	var c Config
	fs.StringVar(&c.Kind, "kind", "", "ceiling, watermill, watermill-tuned or amqp-batch")
	fs.StringVar(&c.AMQPURL, "amqp", "", "AMQP URL (with vhost)")
	fs.StringVar(&c.DBURL, "db", "", "Postgres URL (migrated database)")
	fs.Int64Var(&c.Expect, "expect", 0, "exit after this many commits (acks for the ceiling)")
	fs.IntVar(&c.Prefetch, "prefetch", 0, "prefetch (0: the peer's own default)")
	fs.IntVar(&c.Handlers, "handlers", 0, "handlers / goroutines (0: the peer's own default)")
	fs.IntVar(&c.Batch, "batch", 50, "amqp-batch: most tasks per transaction")
	fs.DurationVar(&c.Wait, "wait", 5*time.Millisecond, "amqp-batch: longest wait for a batch to fill")
	fs.IntVar(&c.Writers, "writers", 4, "amqp-batch: transactions in flight")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.AMQPURL == "" || c.Expect <= 0 {
		return errors.New("peer: -amqp and -expect are required")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := &progress{expect: c.Expect, done: make(chan struct{})}
	ready := func() { fmt.Println("ready") }
	errc := make(chan error, 1)
	go func() {
		switch c.Kind {
		case KindCeiling:
			errc <- runCeiling(ctx, c, p, ready)
		case KindWatermill, KindWatermillTuned:
			errc <- runWatermill(ctx, c, p, ready)
		case KindBatch:
			errc <- runBatch(ctx, c, p, ready)
		default:
			errc <- fmt.Errorf("peer: unknown kind %q", c.Kind)
		}
	}()
	select {
	case <-p.done:
		fmt.Printf("done %d %d %d\n", p.last.Load(), RSSKiB(os.Getpid()), p.first.Load())
		cancel()
		// Let the last acks reach the broker.
		select {
		case <-errc:
		case <-time.After(2 * time.Second):
		}
		return nil
	case err := <-errc:
		if err == nil {
			err = errors.New("peer stopped before the expected count")
		}
		return err
	}
}

// progress counts commits and remembers when the last one happened.
type progress struct {
	expect int64
	n      atomic.Int64
	first  atomic.Int64
	last   atomic.Int64
	once   sync.Once
	done   chan struct{}
}

func (p *progress) add(k int) {
	now := time.Now().UnixNano()
	p.first.CompareAndSwap(0, now)
	if p.n.Add(int64(k)) >= p.expect {
		p.last.Store(now)
		p.once.Do(func() { close(p.done) })
	}
}

// taskMsg is what a Go team decodes: the contract's required fields.
type taskMsg struct {
	TrackID string `json:"track_id"`
	Artist  string `json:"artist"`
	Title   string `json:"title"`
}

// write decodes body into the write the pipeline would make for a task
// that no provider matched.
func write(body []byte) (store.Write, error) {
	var m taskMsg
	if err := json.Unmarshal(body, &m); err != nil {
		return store.Write{}, err
	}
	if m.TrackID == "" || m.Artist == "" || m.Title == "" {
		return store.Write{}, errors.New("missing field")
	}
	return store.Write{
		Task:     task.Task{TrackID: m.TrackID, Artist: m.Artist, Title: m.Title, Priority: task.PriorityDefault},
		Result:   enrich.Result{Status: enrich.StatusNotFound},
		Attempts: 1,
	}, nil
}

// openStore opens a pool of maxConns connections (sized to the concurrency:
// pgxpool's default is 4 on two cores).
func openStore(ctx context.Context, url string, maxConns int) (*store.Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(maxConns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return store.New(pool), nil
}

// RSSKiB reads VmRSS of pid from /proc (0 when unreadable).
func RSSKiB(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	return 0
}
