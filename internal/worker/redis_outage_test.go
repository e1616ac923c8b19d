package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// TestRedisOutage runs a worker on a private redis-server that the test
// kills (SIGKILL) mid-run: tasks keep completing with no retry, failure or
// dead letter, /readyz stays ready (degraded), enrichment_redis_up drops to
// 0; after Redis restarts (empty) on the same port, enrichment_redis_up is 1
// again and cached answers are served once more.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	rs := startRedisServer(t)
	env, sim := simStack(t, nil)
	env["REDIS_URL"] = rs.url()
	b := setup(t, env)
	rw := b.startWorker(nil)
	m := func() workerMetrics { return scrapeWorker(t, rw.addr) }

	bodies := sampleBodies(t, 40)
	first, second := bodies[:20], bodies[20:]
	rows := 0
	publish := func(bodies []string, suffix string) {
		t.Helper()
		for _, body := range bodies {
			b.publishRaw(withTrackSuffix(t, body, suffix), amqp.Publishing{ContentType: "application/json"})
		}
		rows += len(bodies)
		b.waitStatusRows(rows, 60*time.Second)
	}

	// 1. Redis up: the first batch fills the cache. (The watcher's first
	// ping may land after the metrics server is up.)
	waitRedisUp := func(want float64) {
		t.Helper()
		testinfra.Eventually(t, 15*time.Second, fmt.Sprintf("enrichment_redis_up to be %v", want), func() (bool, error) {
			got := m().gauge("enrichment_redis_up")
			return got == want, fmt.Errorf("enrichment_redis_up = %v", got)
		})
	}
	waitRedisUp(1)
	publish(first, "")
	before := m()

	// 2. Redis killed: the second batch still completes, straight from the
	// providers.
	rs.kill()
	publish(second, "")
	during := m()
	if got := during.cache("error") - before.cache("error"); got == 0 {
		t.Errorf("no cache errors counted while Redis was down; want every lookup counted as error")
	}
	if got := during.cache("hit") + during.cache("miss") - before.cache("hit") - before.cache("miss"); got != 0 {
		t.Errorf("%v cache hits or misses counted while Redis was down, want 0", got)
	}
	if got := during.sum("enrichment_ratelimit_local_fallback", nil); got == 0 {
		t.Errorf("enrichment_ratelimit_local_fallback = 0 while Redis is down; want the rate limiters on their local fallback")
	}
	if code, text := getWithBody(t, rw.addr, "/readyz"); code != http.StatusOK || !strings.Contains(text, "redis: degraded") {
		t.Errorf("/readyz while Redis is down = %d %q; want 200 with redis degraded", code, text)
	}
	waitRedisUp(0) // the watcher pings Redis every 5s
	b.wantNoFailures(m())

	// 3. Redis back, empty: the first batch again, under new track ids,
	// fills the cache; once more, it is answered from the cache alone.
	rs.start()
	waitRedisUp(1)
	// The cache skips Redis for a second after its last error; a fill pass
	// that met that window stored only part of its answers: fill again.
	for pass := 1; ; pass++ {
		start := m()
		publish(first, fmt.Sprintf("-fill%d", pass))
		errs := m().cache("error") - start.cache("error")
		if errs == 0 {
			break
		}
		if pass == 3 {
			t.Fatalf("fill pass %d still counted %v cache errors with Redis back", pass, errs)
		}
		t.Logf("fill pass %d met the cache's retry window (%v cache errors); filling again", pass, errs)
	}
	start, requests := m(), totalRequests(simStats(t, sim.URL))
	publish(first, "-again")
	end := m()
	if got := end.cache("hit") - start.cache("hit"); got == 0 {
		t.Errorf("no cache hits after Redis came back, want hits")
	}
	if got := end.cache("miss") + end.cache("error") - start.cache("miss") - start.cache("error"); got != 0 {
		t.Errorf("%v cache misses or errors on the cached pass, want 0", got)
	}
	if got := totalRequests(simStats(t, sim.URL)) - requests; got != 0 {
		t.Errorf("the cached pass made %d provider requests, want 0", got)
	}
	b.wantNoFailures(end)
	t.Logf("cache hit/miss/error: before the outage %v/%v/%v, during %v/%v/%v, at the end %v/%v/%v",
		before.cache("hit"), before.cache("miss"), before.cache("error"),
		during.cache("hit"), during.cache("miss"), during.cache("error"),
		end.cache("hit"), end.cache("miss"), end.cache("error"))
}

// wantNoFailures checks that every task so far ended well on its first try:
// no failed or partial status, no retry, nothing dead-lettered.
func (b *bundle) wantNoFailures(m workerMetrics) {
	b.t.Helper()
	if n := b.count(`SELECT count(*) FROM enrichment_status WHERE status NOT IN ('completed', 'not_found')`); n != 0 {
		b.t.Errorf("%d tasks ended failed or partial, want 0", n)
	}
	if got := m.sum("enrichment_retries_total", nil); got != 0 {
		b.t.Errorf("enrichment_retries_total = %v, want 0", got)
	}
	if got := m.sum("enrichment_dead_lettered_total", nil); got != 0 {
		b.t.Errorf("enrichment_dead_lettered_total = %v, want 0", got)
	}
	if got := b.queueDepth(broker.DeadLetterQueue); got != 0 {
		b.t.Errorf("DLQ depth = %d, want 0", got)
	}
}

// withTrackSuffix appends suffix to a sample line's track_id.
func withTrackSuffix(t *testing.T, body, suffix string) string {
	t.Helper()
	if suffix == "" {
		return body
	}
	var m map[string]any
	testinfra.Must(t, json.Unmarshal([]byte(body), &m), "decode sample line")
	m["track_id"] = m["track_id"].(string) + suffix
	out, err := json.Marshal(m)
	testinfra.Must(t, err, "encode sample line")
	return string(out)
}

// workerMetrics is one scrape of a worker's /metrics: the counter and
// gauge samples of each metric.
type workerMetrics map[string][]scrapedSample

type scrapedSample struct {
	labels map[string]string
	value  float64
}

func scrapeWorker(t *testing.T, addr string) workerMetrics {
	t.Helper()
	code, text := getWithBody(t, addr, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader([]byte(text)))
	testinfra.Must(t, err, "parse /metrics")
	out := workerMetrics{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			s := scrapedSample{labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				s.value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s.value = m.GetGauge().GetValue()
			default:
				continue
			}
			out[name] = append(out[name], s)
		}
	}
	return out
}

// sum adds the samples of name whose labels include want.
func (m workerMetrics) sum(name string, want map[string]string) float64 {
	var total float64
next:
	for _, s := range m[name] {
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		total += s.value
	}
	return total
}

// gauge is the value of an unlabelled gauge (-1 when absent).
func (m workerMetrics) gauge(name string) float64 {
	if len(m[name]) != 1 {
		return -1
	}
	return m[name][0].value
}

// cache is enrichment_cache_requests_total{result} summed over providers.
func (m workerMetrics) cache(result string) float64 {
	return m.sum("enrichment_cache_requests_total", map[string]string{"result": result})
}

func getWithBody(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	testinfra.Must(t, err, "GET "+path)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	testinfra.Must(t, err, "read "+path)
	return resp.StatusCode, string(b)
}

// redisServer is a private redis-server child process on a fixed port.
type redisServer struct {
	t      *testing.T
	port   int
	dir    string
	cmd    *exec.Cmd
	out    bytes.Buffer // its output, read only after it exited
	exited chan struct{}
}

// startRedisServer starts redis-server (no persistence) on a free port; it
// is killed when the test ends.
func startRedisServer(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	testinfra.Must(t, err, "find a free port")
	port := ln.Addr().(*net.TCPAddr).Port
	testinfra.Must(t, ln.Close(), "free the port")
	rs := &redisServer{t: t, port: port, dir: t.TempDir()}
	rs.start()
	t.Cleanup(rs.kill)
	return rs
}

func (rs *redisServer) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(rs.port)) }

func (rs *redisServer) url() string { return "redis://" + rs.addr() + "/0" }

// start runs redis-server and waits until it answers PING.
func (rs *redisServer) start() {
	rs.t.Helper()
	rs.out.Reset()
	rs.cmd = exec.Command("redis-server", "--port", strconv.Itoa(rs.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", rs.dir)
	rs.cmd.Stdout, rs.cmd.Stderr = &rs.out, &rs.out
	testinfra.Must(rs.t, rs.cmd.Start(), "start redis-server")
	exited := make(chan struct{})
	rs.exited = exited
	cmd := rs.cmd
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	testinfra.Eventually(rs.t, 10*time.Second, "redis-server on "+rs.addr(), func() (bool, error) {
		select {
		case <-exited:
			rs.t.Fatalf("redis-server on port %d exited at start:\n%s", rs.port, rs.out.String())
		default:
		}
		err := redisPing(rs.addr())
		return err == nil, err
	})
}

// kill sends SIGKILL and waits for the process to end.
func (rs *redisServer) kill() {
	if rs.cmd == nil {
		return
	}
	_ = rs.cmd.Process.Kill()
	<-rs.exited
	rs.cmd = nil
}

// redisPing sends PING over RESP and wants +PONG.
func redisPing(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, len("+PONG\r\n"))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", buf)
	}
	return nil
}
