package monitoring

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/djmeta/enrichment/internal/testinfra"
)

// TestDockerfileBuildStage runs the build stage of Dockerfile.worker natively, without Docker:
// the build context is copied as .dockerignore lets it through, the stage's RUN commands run in
// it (BuildKit --mount flags dropped, ARGs from their defaults, the target platform this
// machine's, /out/ a temporary directory), and the binaries that come out are checked: static
// (no ELF interpreter, no dynamic section), stripped, and working as the compose files and the
// Kubernetes manifests use them, from `enrichctl migrate up` and `queue-init` to a worker that
// settles a task and drains on SIGTERM.
func TestDockerfileBuildStage(t *testing.T) {
	requireTool(t, "go", "install Go 1.26 (https://go.dev/dl/)")
	began := time.Now()
	df := parseDockerfile(t, string(readFile(t, "Dockerfile.worker")))
	build := df.stage(t, "build")
	if len(build.runs) == 0 {
		t.Fatalf("Dockerfile.worker stage build: got no RUN, want the go build")
	}

	ctxDir := dockerContext(t)
	out := t.TempDir()
	const version = "dockerfile-test"
	args := map[string]string{}
	for k, v := range df.globalArgs {
		args[k] = v
	}
	for k, v := range build.args {
		args[k] = v
	}
	args["TARGETOS"], args["TARGETARCH"], args["VERSION"] = runtime.GOOS, runtime.GOARCH, version
	var goBuild string
	for _, r := range build.runs {
		cmd := stripMounts(r)
		if strings.Contains(cmd, "go build") {
			goBuild = cmd
			if !strings.Contains(cmd, "-o /out/") {
				t.Fatalf("go build in Dockerfile.worker: got %q, want -o /out/ (what COPY --from=build /out/ takes)", cmd)
			}
			cmd = strings.ReplaceAll(cmd, "-o /out/", "-o "+out+"/")
		}
		sh := exec.Command("/bin/sh", "-ec", cmd)
		sh.Dir = ctxDir
		sh.Env = os.Environ()
		for k, v := range args {
			sh.Env = append(sh.Env, k+"="+v)
		}
		var outBuf bytes.Buffer
		sh.Stdout, sh.Stderr = &outBuf, &outBuf
		start := time.Now()
		if err := sh.Run(); err != nil {
			t.Fatalf("RUN %s: %v\n%s", cmd, err, outBuf.String())
		}
		t.Logf("RUN %s (%s)", cmd, time.Since(start).Round(time.Millisecond))
	}
	if goBuild == "" {
		t.Fatal("Dockerfile.worker stage build: got no RUN with go build")
	}
	if !regexp.MustCompile(`(^|\s)CGO_ENABLED=0\s`).MatchString(goBuild) {
		t.Errorf("go build: got %q, want CGO_ENABLED=0 on the command", goBuild)
	}

	// The binaries: one per ./cmd/<name> on the go build line.
	var bins []string
	for _, m := range regexp.MustCompile(`\./cmd/([a-z0-9-]+)`).FindAllStringSubmatch(goBuild, -1) {
		bins = append(bins, m[1])
	}
	slices.Sort(bins)
	entries, err := os.ReadDir(out)
	testinfra.Must(t, err, "read build output")
	var built []string
	for _, e := range entries {
		built = append(built, e.Name())
	}
	if !slices.Equal(built, bins) {
		t.Fatalf("build output: got %v, want %v", built, bins)
	}
	for _, b := range bins {
		checkStaticELF(t, filepath.Join(out, b))
	}

	// Every /usr/local/bin/<name> the image, the compose files and the manifests run is built.
	refs := map[string]bool{}
	for _, f := range append([]string{"Dockerfile.worker", composeFile, composeWorkersFile}, k8sFilesRel(t)...) {
		for _, m := range regexp.MustCompile(`/usr/local/bin/([a-z0-9-]+)`).FindAllStringSubmatch(string(readFile(t, f)), -1) {
			refs[m[1]] = true
			if !slices.Contains(bins, m[1]) {
				t.Errorf("%s runs /usr/local/bin/%s: got no such binary from the build stage (%v)", f, m[1], bins)
			}
		}
	}
	// Files the final stage copies from the build stage exist in the context.
	for _, src := range df.copiesFromBuild {
		if rel, ok := strings.CutPrefix(src, "/src/"); ok {
			if _, err := os.Stat(filepath.Join(ctxDir, rel)); err != nil {
				t.Errorf("COPY --from=build %s: got %v in the build context, want it there (.dockerignore?)", src, err)
			}
		}
	}
	t.Logf("built %v in %s", bins, time.Since(began).Round(time.Millisecond))

	bin := func(name string) string { return filepath.Join(out, name) }
	t.Run("invocations", func(t *testing.T) {
		x := newIssues()
		for _, c := range []struct {
			name     string
			args     []string
			wantCode int
			want     string
		}{
			{"queue-init", []string{"-h"}, 0, "-wait"},
			{"enrichctl", []string{"--help"}, 0, "enrichctl migrate up"},
			{"provider-sim", []string{"-h"}, 0, "-catalog"},
			{"enrichment-worker", []string{"bogus"}, 1, `unknown argument "bogus"`},
		} {
			code, output := runBinary(t, bin(c.name), nil, c.args...)
			if !strings.Contains(output, c.want) {
				t.Errorf("%s %s: got output %q, want it to mention %q", c.name, strings.Join(c.args, " "), output, c.want)
			}
			if code != c.wantCode {
				x.errorf(t, "binary "+c.name+" "+strings.Join(c.args, " "), "%s %s: got exit code %d, want %d", c.name, strings.Join(c.args, " "), code, c.wantCode)
			}
		}
		x.expect(t, "binary ")
	})

	t.Run("healthcheck as in compose", func(t *testing.T) {
		// Nothing listening: the healthcheck fails.
		closed := freePort(t)
		if code, output := runBinary(t, bin("enrichment-worker"), []string{"METRICS_ADDR=" + closed}, "healthcheck"); code == 0 {
			t.Errorf("enrichment-worker healthcheck against a closed port: got exit 0 (%s), want a failure", output)
		}
		// provider-sim's compose service: SIM_ADDR and METRICS_ADDR on the same port.
		addr := freePort(t)
		port := portOf(t, addr)
		sim := startBinary(t, bin("provider-sim"), []string{"SIM_ADDR=" + addr}, "-catalog", filepath.Join(ctxDir, "testdata/catalog/catalog.json"))
		waitHealthy(t, bin("enrichment-worker"), []string{"METRICS_ADDR=:" + port}, sim, 20*time.Second)
		sim.stop(t, 10*time.Second)
	})

	t.Run("migrate, queue-init, worker, drain", func(t *testing.T) {
		dbURL := testinfra.Database(t) // empty: the built enrichctl migrates it
		amqpURL := testinfra.VHost(t)
		redisURL, prefix := testinfra.RedisURL(t)
		metrics := freePort(t)
		env := []string{
			"DATABASE_URL=" + dbURL, "AMQP_URL=" + amqpURL, "REDIS_URL=" + redisURL, "CACHE_PREFIX=" + prefix,
			"METRICS_ADDR=" + metrics, "PROVIDERS=none", "WORKER_DRAIN_TIMEOUT=5s", "RETRY_DELAYS=1s",
			"COVERAGE_REFRESH_INTERVAL=0", "LOG_LEVEL=warn",
		}
		for _, step := range [][]string{{"enrichctl", "migrate", "up"}, {"queue-init", "-wait", "10s"}} {
			if code, output := runBinary(t, bin(step[0]), env, step[1:]...); code != 0 {
				t.Fatalf("%s: got exit code %d, want 0\n%s", strings.Join(step, " "), code, output)
			}
		}
		w := startBinary(t, bin("enrichment-worker"), env)
		waitHealthy(t, bin("enrichment-worker"), []string{"METRICS_ADDR=" + metrics}, w, 30*time.Second)
		testinfra.Eventually(t, 10*time.Second, "/readyz 200", func() (bool, error) {
			code, body := httpGet("http://" + metrics + "/readyz")
			return code == http.StatusOK, fmt.Errorf("%d %s", code, body)
		})
		if code, body := httpGet("http://" + metrics + "/metrics"); code != http.StatusOK || !strings.Contains(body, `version="`+version+`"`) {
			t.Errorf("/metrics: got %d and no enrichment_build_info{version=%q}, want the VERSION build arg stamped by -ldflags -X", code, version)
		}
		if code, output := runBinary(t, bin("enrichctl"), env, "publish", "--track-id", "dockerfile-1", "--artist", "Bicep", "--title", "Glue"); code != 0 {
			t.Fatalf("enrichctl publish: got exit code %d\n%s", code, output)
		}
		testinfra.Eventually(t, 20*time.Second, "the task settled in Postgres", func() (bool, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, err := pgx.Connect(ctx, dbURL)
			if err != nil {
				return false, err
			}
			defer conn.Close(ctx)
			var status string
			err = conn.QueryRow(ctx, `SELECT status FROM enrichment_status WHERE track_id = 'dockerfile-1'`).Scan(&status)
			return err == nil && status == "not_found", fmt.Errorf("status %q: %v", status, err)
		})
		start := time.Now()
		code := w.stop(t, 5*time.Second+metricsShutdownMargin)
		if code != 0 {
			t.Errorf("enrichment-worker on SIGTERM: got exit code %d, want 0 after draining\n%s", code, w.output.String())
		}
		t.Logf("worker exited %d, %s after SIGTERM", code, time.Since(start).Round(time.Millisecond))
	})
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

type dockerStage struct {
	name string
	args map[string]string
	runs []string
}

type dockerfile struct {
	globalArgs      map[string]string
	stages          []*dockerStage
	copiesFromBuild []string
}

func (d dockerfile) stage(t *testing.T, name string) *dockerStage {
	t.Helper()
	for _, s := range d.stages {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("Dockerfile.worker: got no stage %q", name)
	return nil
}

// parseDockerfile reads the instructions this test needs: ARGs, stages, RUNs, COPY --from=build.
func parseDockerfile(t *testing.T, src string) dockerfile {
	t.Helper()
	d := dockerfile{globalArgs: map[string]string{}}
	var lines []string
	var cur strings.Builder
	for _, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if s, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	var st *dockerStage
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			st = &dockerStage{args: map[string]string{}}
			if m := regexp.MustCompile(`(?i)\sAS\s+(\S+)$`).FindStringSubmatch(rest); m != nil {
				st.name = m[1]
			}
			d.stages = append(d.stages, st)
		case "ARG":
			k, v, _ := strings.Cut(rest, "=")
			if st == nil {
				d.globalArgs[k] = v
			} else {
				st.args[k] = v
			}
		case "RUN":
			if st != nil {
				st.runs = append(st.runs, rest)
			}
		case "COPY":
			if f := strings.Fields(rest); len(f) >= 3 && f[0] == "--from=build" {
				d.copiesFromBuild = append(d.copiesFromBuild, f[1:len(f)-1]...)
			}
		}
	}
	return d
}

// stripMounts drops BuildKit's RUN flags (--mount=..., --network=...), which are not shell.
func stripMounts(run string) string {
	f := strings.Fields(run)
	for len(f) > 0 && strings.HasPrefix(f[0], "--") {
		f = f[1:]
	}
	return strings.Join(f, " ")
}

// ---------------------------------------------------------------------------------------------
// build context

type ignoreRule struct {
	re     *regexp.Regexp
	negate bool
}

// parseDockerignore turns .dockerignore patterns into matchers: `*` and `?` stay within a path
// element, `**` spans elements, a pattern matching a directory covers what is below it, the last
// matching rule wins and `!` re-includes.
func parseDockerignore(src string) []ignoreRule {
	var rules []ignoreRule
	for _, line := range strings.Split(src, "\n") {
		p := strings.TrimSpace(line)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		p = filepath.ToSlash(filepath.Clean(strings.TrimPrefix(p, "/")))
		re := regexp.QuoteMeta(p)
		re = strings.ReplaceAll(re, `\*\*/`, `(.*/)?`)
		re = strings.ReplaceAll(re, `\*\*`, `.*`)
		re = strings.ReplaceAll(re, `\*`, `[^/]*`)
		re = strings.ReplaceAll(re, `\?`, `[^/]`)
		rules = append(rules, ignoreRule{re: regexp.MustCompile("^" + re + "$"), negate: neg})
	}
	return rules
}

func ignored(rules []ignoreRule, rel string) bool {
	out := false
	for _, r := range rules {
		for p := rel; ; {
			if r.re.MatchString(p) {
				out = !r.negate
				break
			}
			i := strings.LastIndex(p, "/")
			if i < 0 {
				break
			}
			p = p[:i]
		}
	}
	return out
}

// dockerContext copies the repository into a temporary directory as the Docker build context:
// only what .dockerignore lets through.
func dockerContext(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	rules := parseDockerignore(string(readFile(t, ".dockerignore")))
	hasNegation := slices.ContainsFunc(rules, func(r ignoreRule) bool { return r.negate })
	dst := t.TempDir()
	var files int
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if d.IsDir() {
			if rel == ".git" || (ignored(rules, rel) && !hasNegation) {
				return filepath.SkipDir
			}
			return nil
		}
		if ignored(rules, rel) || !d.Type().IsRegular() {
			return nil
		}
		files++
		return copyFile(p, filepath.Join(dst, filepath.FromSlash(rel)))
	})
	testinfra.Must(t, err, "copy the build context")
	for _, excluded := range []string{"docs", "deploy", "monitoring", "README.md"} {
		if _, err := os.Stat(filepath.Join(dst, excluded)); err == nil {
			t.Errorf("build context: got %s, want it excluded by .dockerignore", excluded)
		}
	}
	t.Logf("build context: %d files", files)
	return dst
}

func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func k8sFilesRel(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, f := range k8sFiles(t) {
		rel, err := filepath.Rel(repoRoot(t), f)
		testinfra.Must(t, err, "relative path")
		out = append(out, filepath.ToSlash(rel))
	}
	return out
}

// ---------------------------------------------------------------------------------------------
// binaries

var elfMachine = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386, "arm": elf.EM_ARM,
	"riscv64": elf.EM_RISCV, "ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390,
}

// checkStaticELF: a static executable has no program interpreter and no dynamic section, so it
// runs on distroless/static; -s -w leave no symbol table and no DWARF.
func checkStaticELF(t *testing.T, file string) {
	t.Helper()
	f, err := elf.Open(file)
	if err != nil {
		t.Errorf("%s: not an ELF file: %v", filepath.Base(file), err)
		return
	}
	defer f.Close()
	name := filepath.Base(file)
	if f.Type != elf.ET_EXEC {
		t.Errorf("%s: got ELF type %s, want ET_EXEC (a static, non-PIE executable)", name, f.Type)
	}
	if want, ok := elfMachine[runtime.GOARCH]; ok && f.Machine != want {
		t.Errorf("%s: got machine %s, want %s", name, f.Machine, want)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s: got a %s program header, want none (dynamically linked: it would not run on distroless/static)", name, p.Type)
		}
	}
	for _, s := range []string{".interp", ".dynamic", ".dynsym", ".symtab", ".debug_info", ".zdebug_info"} {
		if f.Section(s) != nil {
			t.Errorf("%s: got section %s, want a static binary stripped by -ldflags \"-s -w\"", name, s)
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		t.Errorf("%s: got imported libraries %v, want none", name, libs)
	}
}

func binEnv(extra []string) []string {
	// A minimal environment, as in the image: only what the step sets.
	return append([]string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}, extra...)
}

// runBinary runs a built binary to completion and returns its exit code and output.
func runBinary(t *testing.T, file string, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, file, args...)
	cmd.Env = binEnv(env)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode(), out.String()
	default:
		t.Fatalf("%s %s: %v\n%s", filepath.Base(file), strings.Join(args, " "), err, out.String())
		return -1, ""
	}
}

type process struct {
	cmd    *exec.Cmd
	output *syncBuffer
	exited chan struct{}
	code   int
}

// startBinary starts a long-running binary; it is killed when the test ends if still running.
func startBinary(t *testing.T, file string, env []string, args ...string) *process {
	t.Helper()
	p := &process{output: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(file, args...)
	p.cmd.Env = binEnv(env)
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	testinfra.Must(t, p.cmd.Start(), "start "+filepath.Base(file))
	go func() {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		}
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// stop sends SIGTERM and waits up to timeout for the exit; it returns the exit code.
func (p *process) stop(t *testing.T, timeout time.Duration) int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.code
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("%s: still running %s after SIGTERM, killed\n%s", filepath.Base(p.cmd.Path), timeout, p.output.String())
		return -1
	}
}

// waitHealthy runs `enrichment-worker healthcheck` (the image's HEALTHCHECK) until it passes.
func waitHealthy(t *testing.T, worker string, env []string, p *process, timeout time.Duration) {
	t.Helper()
	testinfra.Eventually(t, timeout, "healthcheck passes", func() (bool, error) {
		select {
		case <-p.exited:
			t.Fatalf("%s exited with %d before it was healthy\n%s", filepath.Base(p.cmd.Path), p.code, p.output.String())
		default:
		}
		code, output := runBinary(t, worker, env, "healthcheck")
		return code == 0, fmt.Errorf("exit %d: %s", code, strings.TrimSpace(output))
	})
}

func httpGet(u string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
