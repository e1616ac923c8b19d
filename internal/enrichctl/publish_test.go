package enrichctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// runIn runs one command line with stdin and an environment on top of the
// stack's, returning what Run returns.
func (s *stack) runIn(stdin io.Reader, env map[string]string, args ...string) (stdout, stderr string, code int) {
	s.t.Helper()
	e := map[string]string{}
	for k, v := range s.env {
		e[k] = v
	}
	for k, v := range env {
		e[k] = v
	}
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code = Run(ctx, args, Env{Stdout: &out, Stderr: &errOut, Stdin: stdin, Environ: e})
	return out.String(), errOut.String(), code
}

// trackIDsIn drains n messages from q and returns their distinct track ids
// (from the message id) and how many there were.
func (s *stack) trackIDsIn(q string, n int) map[string]int {
	s.t.Helper()
	ids := map[string]int{}
	for _, d := range s.drain(q, n) {
		ids[d.MessageId]++
	}
	return ids
}

func taskLine(i int) string {
	return fmt.Sprintf(`{"track_id":"p%05d","artist":"Artist %d","title":"Title %d"}`, i, i, i)
}

// publishReport decodes publish -o json.
func decodePublish(t *testing.T, out string) publishResult {
	t.Helper()
	var r publishResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("decode publish -o json: %v\n%s", err, out)
	}
	return r
}

func TestPublishLongLineInTheMiddle(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	const n, long = 10000, 5000
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i == long {
			fmt.Fprintf(&b, `{"track_id":"long","artist":"A","title":"%s"}`+"\n", strings.Repeat("x", 100<<10))
			continue
		}
		b.WriteString(taskLine(i) + "\n")
	}
	file := filepath.Join(t.TempDir(), "tracks.jsonl")
	testinfra.Must(t, os.WriteFile(file, []byte(b.String()), 0o600), "write file")

	out, errOut, code := s.runIn(nil, nil, "publish", "--file", file, "-o", "json")
	r := decodePublish(t, out)
	if code != 1 || r.Confirmed != n-1 || r.Invalid != 1 || r.Failed != 0 || r.Records != n || !r.Complete {
		t.Errorf("publish: exit %d, %+v; want exit 1 (an invalid line), %d confirmed, 1 invalid, 0 failed, complete", code, r, n-1)
	}
	if len(r.Problems) != 1 || r.Problems[0].Line != long || !strings.Contains(r.Problems[0].Error, "more than the 65536 bytes") {
		t.Errorf("problems %+v, want line %d rejected as longer than the message limit", r.Problems, long)
	}
	if want := fmt.Sprintf("line %d: ", long); !strings.Contains(errOut, want) {
		t.Errorf("stderr lacks %q:\n%s", want, errOut)
	}
	ids := s.trackIDsIn(broker.WorkQueue, n-1)
	if len(ids) != n-1 || ids["long"] != 0 {
		t.Errorf("work queue: %d distinct tracks, want %d (every line but the long one)", len(ids), n-1)
	}
	t.Logf("10,000 lines with a 100 KiB line at %d: %d confirmed, %d invalid; the queue held %d distinct tracks", long, r.Confirmed, r.Invalid, len(ids))
}

// paddedTask is a valid task line of exactly size bytes (an unknown field
// pads it).
func paddedTask(id string, size int) string {
	head := fmt.Sprintf(`{"track_id":%q,"artist":"A","title":"T","note":"`, id)
	return head + strings.Repeat("n", size-len(head)-2) + `"}`
}

func TestPublishLineLengths(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := strings.Join([]string{
		taskLine(1),
		`{"track_id":"huge","artist":"A","title":"` + strings.Repeat("y", 3<<20) + `"}`, // longer than publish reads
		paddedTask("at-limit", 64<<10),     // exactly the message limit: accepted
		paddedTask("over-limit", 64<<10+1), // one byte over: rejected
		taskLine(5),
	}, "\n") + "\n"
	out, errOut, code := s.runIn(strings.NewReader(in), nil, "publish", "--file", "-", "--json")
	r := decodePublish(t, out)
	var lines []int
	for _, p := range r.Problems {
		lines = append(lines, p.Line)
	}
	if code != 1 || r.Confirmed != 3 || r.Invalid != 2 || fmt.Sprint(lines) != "[2 4]" {
		t.Errorf("publish: exit %d, %+v (stderr %q); want 3 confirmed, lines 2 and 4 rejected", code, r, errOut)
	}
	ids := s.trackIDsIn(broker.WorkQueue, 3)
	if ids["at-limit"] != 1 {
		t.Errorf("the task of exactly 65536 bytes was not published: %v", ids)
	}
}

func TestPublishCSV(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	// 502 records; line 100 opens a quote it never closes, line 300 has a
	// quote in the middle of a field, line 400 has a field too many.
	var b strings.Builder
	b.WriteString("track_id,artist,title,duration_ms\n")
	bad := map[int]string{101: "quote", 301: "bare quote", 401: "fields"}
	for line := 2; line <= 503; line++ {
		i := line - 1
		switch bad[line] {
		case "quote":
			fmt.Fprintf(&b, "c%03d,Artist %d,\"Title %d,240000\n", i, i, i)
		case "bare quote":
			fmt.Fprintf(&b, "c%03d,Artist %d,Ti\"tle %d,240000\n", i, i, i)
		case "fields":
			fmt.Fprintf(&b, "c%03d,Artist %d,Title %d,240000,extra\n", i, i, i)
		default:
			fmt.Fprintf(&b, "c%03d,\"Artist, %d\",Title %d,240000\n", i, i, i)
		}
	}
	file := filepath.Join(t.TempDir(), "tracks.csv")
	testinfra.Must(t, os.WriteFile(file, []byte(b.String()), 0o600), "write file")
	out, errOut, code := s.runIn(nil, nil, "publish", "--file", file, "-o", "json")
	r := decodePublish(t, out)
	if code != 1 || r.Records != 502 || r.Confirmed != 499 || r.Invalid != 3 || !r.Complete {
		t.Errorf("publish: exit %d, %+v; want 502 records, 499 confirmed, 3 invalid", code, r)
	}
	var lines []int
	for _, p := range r.Problems {
		lines = append(lines, p.Line)
	}
	if fmt.Sprint(lines) != "[101 301 401]" {
		t.Errorf("lines reported %v, want [101 301 401]; stderr:\n%s", lines, errOut)
	}
	ids := s.trackIDsIn(broker.WorkQueue, 499)
	for _, line := range []int{100, 102, 300, 302, 400, 402, 503} {
		if id := fmt.Sprintf("c%03d", line-1); ids[id] != 1 {
			t.Errorf("%s (line %d, next to a bad one) is not in the queue once: %d", id, line, ids[id])
		}
	}
	t.Logf("CSV with a broken quote: %d records, %d confirmed, %d invalid (lines %v); the queue held %d", r.Records, r.Confirmed, r.Invalid, lines, len(ids))

	t.Run("header checked up front", func(t *testing.T) {
		for _, tc := range []struct{ header, want string }{
			{"track_id,arist,title", `unknown column "arist"`},
			{"track_id,artist", "column title is missing"},
			{"track_id,artist,title,artist", `column "artist" appears twice`},
		} {
			f := filepath.Join(t.TempDir(), "h.csv")
			testinfra.Must(t, os.WriteFile(f, []byte(tc.header+"\nx,y,z\n"), 0o600), "write")
			_, errOut, code := s.runIn(nil, nil, "publish", "--file", f)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("header %q: exit %d, stderr %q; want exit 1 naming %q", tc.header, code, errOut, tc.want)
			}
		}
		if got := s.depth(broker.WorkQueue); got != 0 {
			t.Errorf("%d messages published despite a bad header", got)
		}
	})
}

// tcpProxy forwards connections to a target until it is cut, as a network
// failure would.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
	// cutAfter > 0 cuts every connection once that many bytes went from
	// clients to the target.
	cutAfter int64
	sent     int64
	cutOnce  sync.Once
	wasCut   chan struct{}
}

// upstream counts what clients send and cuts at cutAfter.
type upstream struct {
	p  *tcpProxy
	to net.Conn
}

func (u upstream) Write(b []byte) (int, error) {
	n, err := u.to.Write(b)
	u.p.mu.Lock()
	u.p.sent += int64(n)
	cut := u.p.cutAfter > 0 && u.p.sent >= u.p.cutAfter
	u.p.mu.Unlock()
	if cut {
		u.p.cut()
	}
	return n, err
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	testinfra.Must(t, err, "listen")
	p := &tcpProxy{ln: ln, target: target, wasCut: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(upstream{p, up}, c); _ = up.Close() }()
			go func() { defer p.wg.Done(); _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

// cut closes every connection going through the proxy.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.cutOnce.Do(func() { close(p.wasCut) })
}

// via rewrites an AMQP URL to go through the proxy.
func (p *tcpProxy) via(t *testing.T, amqpURL string) string {
	u, err := url.Parse(amqpURL)
	testinfra.Must(t, err, "parse AMQP URL")
	u.Host = p.ln.Addr().String()
	return u.String()
}

func TestPublishCutAndResumed(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	const n = 10000
	var all bytes.Buffer
	for i := 1; i <= n; i++ {
		all.WriteString(taskLine(i) + "\n")
	}
	lines := bytes.SplitAfter(all.Bytes(), []byte("\n"))
	state := filepath.Join(t.TempDir(), "publish.state.json")
	proxy := startProxy(t, "127.0.0.1:5672")
	viaProxy := map[string]string{"AMQP_URL": proxy.via(t, s.env["AMQP_URL"])}

	// First run, from a pipe: the first half, then the connection is cut,
	// then the second half.
	pr, pw := io.Pipe()
	type result struct {
		out, errOut string
		code        int
	}
	done := make(chan result, 1)
	go func() {
		out, errOut, code := s.runIn(pr, viaProxy, "publish", "--file", "-", "--state", state, "--window", "64", "-o", "json")
		done <- result{out, errOut, code}
	}()
	_, err := pw.Write(bytes.Join(lines[:n/2], nil))
	testinfra.Must(t, err, "write the first half")
	s.waitDepth(broker.WorkQueue, n/2)
	proxy.cut()
	go func() {
		// The publisher stops reading at the first failed publish; the rest
		// of the input is not needed.
		_, _ = pw.Write(bytes.Join(lines[n/2:], nil))
		_ = pw.Close()
	}()
	first := <-done
	_ = pr.Close()
	r1 := decodePublish(t, first.out)
	if first.code != 1 || r1.Complete || r1.StoppedAt == 0 || r1.Confirmed+r1.Failed < n/2 {
		t.Fatalf("cut run: exit %d, %+v (stderr %q); want exit 1, incomplete, stopped at a line", first.code, r1, first.errOut)
	}
	if !strings.Contains(first.errOut, fmt.Sprintf("line %d: not confirmed", r1.StoppedAt)) {
		t.Errorf("cut run: stderr does not report line %d:\n%s", r1.StoppedAt, first.errOut)
	}
	var st publishState
	ok, err := readStateFile(state, &st)
	testinfra.Must(t, err, "read the state")
	if !ok || st.Done || st.Cursor != r1.StoppedAt-1 || st.Confirmed != int64(r1.Confirmed) {
		t.Errorf("state after the cut: %+v; want cursor %d (before the first line not confirmed), %d confirmed", st, r1.StoppedAt-1, r1.Confirmed)
	}

	// A different input is refused by the state.
	changed := bytes.Replace(all.Bytes(), []byte(taskLine(10)), []byte(taskLine(99999)), 1)
	_, errOut, code := s.runIn(bytes.NewReader(changed), nil, "publish", "--file", "-", "--state", state)
	if code != 1 || !strings.Contains(errOut, "not the one state file") {
		t.Errorf("resume with a changed input: exit %d, stderr %q; want a refusal", code, errOut)
	}

	// Resumed, straight to the broker, with the whole input again.
	out, errOut, code := s.runIn(bytes.NewReader(all.Bytes()), nil, "publish", "--file", "-", "--state", state, "-o", "json")
	r2 := decodePublish(t, out)
	if code != 0 || !r2.Complete || !r2.Resumed || r2.ResumedAfter != r1.StoppedAt-1 || r2.Failed != 0 ||
		r1.Confirmed+r2.Confirmed != n || r2.TotalConfirmed != n {
		t.Fatalf("resumed run: exit %d, %+v (stderr %q); want complete, resumed after line %d, %d confirmed over both runs",
			code, r2, errOut, r1.StoppedAt-1, n)
	}
	// Publishes whose confirm the cut lost may have reached the queue: they
	// were reported failed, and the resumed run sent them again.
	unconfirmed := r1.Failed - 1 // the line read after the cut was never sent
	depth := s.depth(broker.WorkQueue)
	if depth < n || depth > n+unconfirmed {
		t.Fatalf("work queue holds %d, want %d to %d", depth, n, n+unconfirmed)
	}
	ids := s.trackIDsIn(broker.WorkQueue, depth)
	if len(ids) != n {
		t.Errorf("work queue: %d distinct tracks, want %d", len(ids), n)
	}
	t.Logf("cut at line %d of %d: run 1 %d confirmed, %d failed (%d sent before the cut, unconfirmed); run 2 %d confirmed; queue %d messages, %d distinct tracks",
		r1.StoppedAt, n, r1.Confirmed, r1.Failed, unconfirmed, r2.Confirmed, depth, len(ids))

	// Once complete, the state does nothing more.
	out, _, code = s.runIn(bytes.NewReader(all.Bytes()), nil, "publish", "--file", "-", "--state", state)
	if code != 0 || !strings.Contains(out, "already complete") || s.depth(broker.WorkQueue) != 0 {
		t.Errorf("third run: exit %d, %q; want nothing published", code, out)
	}
}

func TestPublishOneTaskAndDryRun(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	out, errOut, code := s.runIn(nil, nil, "publish", "--track-id", "set1-07", "--artist", "Bicep", "--title", "Apricots (Extended Mix)",
		"--isrc", "gb-aye-06-01498", "--priority", "9")
	if code != 0 || !strings.Contains(out, "1 confirmed, 0 invalid, 0 failed") {
		t.Fatalf("publish one: exit %d, %q %q", code, out, errOut)
	}
	d := s.drain(broker.PriorityQueue, 1)[0]
	if want := `{"track_id":"set1-07","artist":"Bicep","title":"Apricots (Extended Mix)","isrc":"GBAYE0601498","priority":9}`; !jsonEqual(d.Body, want) || d.Priority != 9 {
		t.Errorf("published %s (priority %d), want %s", d.Body, d.Priority, want)
	}
	if _, errOut, code := s.runIn(nil, nil, "publish", "--artist", "Bicep", "--title", "Glue"); code != 2 || !strings.Contains(errOut, "--track-id") {
		t.Errorf("publish without --track-id: exit %d, %q; want a usage error", code, errOut)
	}
	in := taskLine(1) + "\n{\"track_id\":\"x\"}\n"
	out, _, code = s.runIn(strings.NewReader(in), nil, "publish", "--file", "-", "--dry-run")
	if code != 1 || !strings.Contains(out, "2 record(s), 1 valid, 1 invalid; nothing published") || s.depth(broker.WorkQueue) != 0 {
		t.Errorf("dry run: exit %d, %q", code, out)
	}
}

func jsonEqual(got []byte, want string) bool {
	var a, b any
	return json.Unmarshal(got, &a) == nil && json.Unmarshal([]byte(want), &b) == nil && fmt.Sprint(a) == fmt.Sprint(b)
}

// TestPublishCutMidFlight cuts the connection while hundreds of publishes
// await their confirms: those are reported failed (some did reach the
// queue), and the resumed run sends them again. Nothing is lost; the
// duplicates are bounded by the unconfirmed publishes.
func TestPublishCutMidFlight(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	const n = 10000
	var all bytes.Buffer
	for i := 1; i <= n; i++ {
		all.WriteString(taskLine(i) + "\n")
	}
	file := filepath.Join(t.TempDir(), "tracks.jsonl")
	testinfra.Must(t, os.WriteFile(file, all.Bytes(), 0o600), "write file")
	state := filepath.Join(t.TempDir(), "publish.state.json")
	proxy := startProxy(t, "127.0.0.1:5672")
	// About 250 bytes go up per publish: this cuts near the middle.
	proxy.cutAfter = 250 * n / 2

	out, errOut, code := s.runIn(nil, map[string]string{"AMQP_URL": proxy.via(t, s.env["AMQP_URL"])},
		"publish", "--file", file, "--state", state, "-o", "json")
	r1 := decodePublish(t, out)
	select {
	case <-proxy.wasCut:
	default:
		t.Fatalf("the proxy never cut (%d bytes sent); run: %+v", proxy.sent, r1)
	}
	if code != 1 || r1.Complete || r1.StoppedAt < 1000 || r1.StoppedAt > n-1000 {
		t.Fatalf("cut run: exit %d, %+v (stderr %q); want it stopped mid-file", code, r1, errOut)
	}
	out, errOut, code = s.runIn(nil, nil, "publish", "--file", file, "--state", state, "-o", "json")
	r2 := decodePublish(t, out)
	if code != 0 || !r2.Complete || r2.TotalConfirmed != n || r1.Confirmed+r2.Confirmed+r2.Skipped != n {
		t.Fatalf("resumed run: exit %d, %+v (stderr %q); want complete with %d confirmed over both runs", code, r2, errOut, n)
	}
	depth := s.depth(broker.WorkQueue)
	if depth < n || depth > n+r1.Failed {
		t.Fatalf("work queue holds %d, want %d to %d (each unconfirmed publish at most once more)", depth, n, n+r1.Failed)
	}
	ids := s.trackIDsIn(broker.WorkQueue, depth)
	if len(ids) != n {
		t.Errorf("work queue: %d distinct tracks, want %d", len(ids), n)
	}
	t.Logf("cut mid-flight at line %d: run 1 %d confirmed, %d not confirmed; run 2 %d confirmed, %d skipped as confirmed before; queue %d messages (%d duplicates), %d distinct",
		r1.StoppedAt, r1.Confirmed, r1.Failed, r2.Confirmed, r2.Skipped, depth, depth-n, len(ids))
}
