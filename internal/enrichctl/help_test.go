package enrichctl

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// secretEnv carries a password in every variable enrichctl reads URLs from.
var secretEnv = map[string]string{
	"AMQP_URL":         "amqp://svc:S3cretPass@broker.internal:5672/prod",
	"DATABASE_URL":     "postgres://app:PgS3cret@db.internal:5432/musicdb",
	"RABBITMQ_API_URL": "http://admin:MgmtS3cret@broker.internal:15672",
	"REDIS_URL":        "redis://:RedisS3cret@cache.internal:6379/0",
}

// secrets are the strings no help may print.
var secrets = []string{"S3cretPass", "PgS3cret", "MgmtS3cret", "RedisS3cret", "broker.internal", "db.internal", "cache.internal"}

// commandPaths lists every command of the tree, as argument lists.
func commandPaths(env Env) [][]string {
	root := newRoot(&app{ctx: context.Background(), env: env.withDefaults()})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var out [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		out = append(out, path)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string{}, path...), sub.Name()))
		}
	}
	walk(root, nil)
	return out
}

func runCapture(args []string, env Env) (out, errOut string, code int) {
	var o, e bytes.Buffer
	env.Stdout, env.Stderr = &o, &e
	code = Run(context.Background(), args, env)
	return o.String(), e.String(), code
}

func TestHelpNeverPrintsTheEnvironment(t *testing.T) {
	t.Parallel()
	env := Env{Environ: secretEnv}
	paths := commandPaths(env)
	if len(paths) < 15 {
		t.Fatalf("found %d commands, want every verb (at least 15): %v", len(paths), paths)
	}
	checked := 0
	for _, path := range paths {
		for _, args := range [][]string{
			append(append([]string{}, path...), "-h"),
			append(append([]string{}, path...), "--help"),
			append([]string{"help"}, path...),
			append(append([]string{}, path...), "--no-such-flag"),
		} {
			out, errOut, code := runCapture(args, env)
			all := out + errOut
			for _, s := range secrets {
				if strings.Contains(all, s) {
					t.Errorf("enrichctl %s printed %q:\n%s", strings.Join(args, " "), s, all)
				}
			}
			wantCode := 0
			if args[len(args)-1] == "--no-such-flag" {
				wantCode = 2
			}
			if code != wantCode {
				t.Errorf("enrichctl %s: exit %d, want %d\n%s", strings.Join(args, " "), code, wantCode, all)
			}
			checked++
		}
	}
	// The variables are named, and said to be set, in the root help.
	out, _, _ := runCapture([]string{"--help"}, env)
	for _, want := range []string{"AMQP_URL", "DATABASE_URL", "RABBITMQ_API_URL"} {
		if !strings.Contains(out, want) {
			t.Errorf("root help does not name %s:\n%s", want, out)
		}
	}
	out, _, _ = runCapture([]string{"status", "-h"}, env)
	if !strings.Contains(out, "$RABBITMQ_API_URL, set") || !strings.Contains(out, "$AMQP_URL, set") {
		t.Errorf("status -h does not say the variables are set:\n%s", out)
	}
	t.Logf("%d commands, %d help and bad-flag invocations: no secret printed", len(paths), checked)
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	env := Env{Environ: secretEnv}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"dlq", "replay", "all", "--dry-run"}, `got "all"`},
		{[]string{"dlq", "replay", "--dry-run", "all", "--limit", "1"}, `got "all"`},
		{[]string{"dlq", "list", "extra", "--json"}, `got "extra"`},
		{[]string{"dlq"}, "needs a command"},
		{[]string{"dlq", "lst"}, "did you mean list"},
		{[]string{"migrate"}, "needs a command"},
		{[]string{"migrate", "sideways"}, `unknown command "sideways"`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"dlq", "list", "--reason", "invalid"}, `"invalid" is not a dead-letter reason`},
		{[]string{"dlq", "list", "-o", "yaml"}, "want table or json"},
		{[]string{"migrate", "down", "--all", "--to", "3"}, "none of the others can be"},
		{[]string{"publish"}, "publish needs --file"},
		{[]string{"publish", "--file", "x.jsonl", "--track-id", "a"}, "not both"},
	} {
		out, errOut, code := runCapture(tc.args, env)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("enrichctl %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
		if out != "" {
			t.Errorf("enrichctl %s: printed %q on stdout", strings.Join(tc.args, " "), out)
		}
	}
}

func TestVersionAndCompletion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}, {"version", "-o", "json"}} {
		out, errOut, code := runCapture(args, Env{})
		if code != 0 || !strings.Contains(out, "enrichctl") && !strings.Contains(out, `"version"`) {
			t.Errorf("enrichctl %s: exit %d, %q %q", strings.Join(args, " "), code, out, errOut)
		}
	}
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		out, errOut, code := runCapture([]string{"completion", sh}, Env{})
		if code != 0 || !strings.Contains(out, "enrichctl") {
			t.Errorf("completion %s: exit %d, stderr %q, %d bytes", sh, code, errOut, len(out))
		}
	}
	// Flag values complete too.
	out, _, _ := runCapture([]string{cobra.ShellCompRequestCmd, "dlq", "replay", "--reason", "ret"}, Env{})
	if !strings.Contains(out, broker.ReasonExhausted) {
		t.Errorf("completing --reason ret: %q, want %s", out, broker.ReasonExhausted)
	}
}

// TestReplayWithAWordReplaysNothing is the acceptance line: flags after a
// word are never ignored, and the word is an error.
func TestReplayWithAWordReplaysNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	for i := range 5 {
		s.deadLetter(string(rune('a'+i)), workerHeaders(broker.ReasonExhausted, 3, time.Now(), nil))
	}
	s.waitDepth(broker.DeadLetterQueue, 5)
	_, errOut, code := s.runIn(nil, nil, "dlq", "replay", "all", "--dry-run")
	if code != 2 || !strings.Contains(errOut, `"all"`) {
		t.Errorf("dlq replay all --dry-run: exit %d, stderr %q; want 2 naming \"all\"", code, errOut)
	}
	out, _, code := s.runIn(nil, nil, "dlq", "replay", "--dry-run", "--limit", "1")
	if code != 0 || !strings.Contains(out, "1 message(s) would be replayed") {
		t.Errorf("dlq replay --dry-run --limit 1: exit %d, %q", code, out)
	}
	// Without a filter and without a terminal, replay refuses.
	_, errOut, code = s.runIn(nil, nil, "dlq", "replay")
	if code != 2 || !strings.Contains(errOut, "refusing without --yes") {
		t.Errorf("dlq replay without a filter: exit %d, %q; want a refusal", code, errOut)
	}
	if got := [2]int{s.depth(broker.DeadLetterQueue), s.depth(broker.WorkQueue)}; got != [2]int{5, 0} {
		t.Errorf("DLQ and work queue hold %v, want [5 0]: nothing replayed", got)
	}
	// At a terminal, "no" changes nothing and "yes" replays.
	_, errOut, code = s.runPrompt("no\n", "dlq", "replay")
	if code != 1 || !strings.Contains(errOut, "not confirmed") || s.depth(broker.DeadLetterQueue) != 5 {
		t.Errorf("answering no: exit %d, %q", code, errOut)
	}
	out, _, code = s.runPrompt("yes\n", "dlq", "replay", "-o", "json")
	if code != 0 || !strings.Contains(out, `"replayed": 5`) {
		t.Errorf("answering yes: exit %d, %q", code, out)
	}
	s.waitDepth(broker.WorkQueue, 5)
}

// runPrompt runs a command as if at a terminal, answering the prompt.
func (s *stack) runPrompt(answer string, args ...string) (stdout, stderr string, code int) {
	s.t.Helper()
	var out, errOut bytes.Buffer
	code = Run(context.Background(), args, Env{Stdout: &out, Stderr: &errOut, Stdin: strings.NewReader(answer),
		StdinTerminal: true, Environ: s.env})
	return out.String(), errOut.String(), code
}

func TestMigrateDownAsksFirst(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.seedTracks(50)
	version := func() int64 {
		var v int64
		testinfra.Must(t, s.st.Pool().QueryRow(context.Background(), `SELECT max(version_id) FROM goose_db_version WHERE is_applied`).Scan(&v), "schema version")
		return v
	}
	tracks := func() int {
		var n int
		testinfra.Must(t, s.st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM tracks`).Scan(&n), "count tracks")
		return n
	}
	before := version()

	for _, args := range [][]string{{"migrate", "down", "--all"}, {"migrate", "down"}, {"migrate", "down", "--to", "1"}} {
		_, errOut, code := s.runIn(strings.NewReader("yes\n"), nil, args...) // stdin is not a terminal: never read
		if code != 2 || !strings.Contains(errOut, "refusing without --yes") {
			t.Errorf("%s without --yes: exit %d, %q; want exit 2 and a refusal", strings.Join(args, " "), code, errOut)
		}
	}
	out, _, code := s.runIn(nil, nil, "migrate", "down", "--all", "--dry-run")
	if code != 0 || !strings.Contains(out, "would roll back") {
		t.Errorf("--dry-run: exit %d, %q", code, out)
	}
	_, _, code = s.runPrompt("no\n", "migrate", "down", "--all")
	if code != 1 {
		t.Errorf("answering no: exit %d, want 1", code)
	}
	if v, n := version(), tracks(); v != before || n != 50 {
		t.Fatalf("after refusals: schema version %d (want %d), %d tracks (want 50)", v, before, n)
	}
	t.Logf("migrate down --all without --yes, stdin not a terminal: exit 2, schema version %d and 50 tracks unchanged", before)

	out, errOut, code := s.runIn(nil, nil, "migrate", "down", "--yes", "-o", "json")
	if code != 0 || !strings.Contains(out, `"action": "down"`) {
		t.Fatalf("migrate down --yes: exit %d, %q %q", code, out, errOut)
	}
	out, errOut, code = s.runIn(nil, nil, "migrate", "up")
	if code != 0 || !strings.Contains(out, "applied 1 migration(s)") {
		t.Errorf("migrate up: exit %d, %q %q", code, out, errOut)
	}
	if _, _, code := s.runIn(nil, nil, "migrate", "status", "-o", "json"); code != 0 {
		t.Errorf("migrate status: exit %d", code)
	}
}
