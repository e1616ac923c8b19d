package monitoring

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/enrichctl"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// docCommands returns the commands of every `sh` block of a Markdown file,
// one per line once continuation lines are joined, without blank lines.
func docCommands(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```(\\w*)\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		if m[1] != "sh" {
			continue
		}
		for _, line := range strings.Split(strings.ReplaceAll(m[2], "\\\n", " "), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				out = append(out, line)
			}
		}
	}
	return out
}

// composeEnrichctl matches a one-off enrichctl container of the compose
// files: docker compose ... run [flags] --entrypoint /usr/local/bin/enrichctl SERVICE ARGS.
var composeEnrichctl = regexp.MustCompile(`^docker compose .* run .*--entrypoint /usr/local/bin/enrichctl (\S+) (.*)$`)

// TestDeployDocCommands runs every command of docs/deploy.md's `sh` blocks
// that can run on this machine, as written: file and kubectl kustomize
// steps in a copy of deploy/, and the enrichctl commands of compose
// one-offs natively against a test database and vhost (what the container
// would run). Commands that need a Docker engine or a Kubernetes cluster
// are skipped, each logged with that reason.
func TestDeployDocCommands(t *testing.T) {
	t.Parallel()
	cmds := docCommands(t, path(t, "docs/deploy.md"))
	if len(cmds) < 10 {
		t.Fatalf("found %d commands in docs/deploy.md, want its examples", len(cmds))
	}
	work := t.TempDir()
	if out, err := run(t, repoRoot(t), "cp", "-r", "deploy", work); err != nil {
		t.Fatalf("copy deploy/: %v\n%s", err, out)
	}
	var stack map[string]string // the environment of the compose services, natively
	ran, skipped := 0, 0
	for _, c := range cmds {
		words := strings.Fields(c)
		switch {
		case composeEnrichctl.MatchString(c):
			if stack == nil {
				stack = deployDocStack(t)
			}
			args := shellSplit(t, composeEnrichctl.FindStringSubmatch(c)[2])
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			err := enrichctl.Main(ctx, args, enrichctl.Env{Stdout: &out, Stderr: &out, Environ: stack})
			cancel()
			if err != nil {
				t.Errorf("%s\n  natively: enrichctl %s: %v\n%s", c, strings.Join(args, " "), err, out.String())
			}
			t.Logf("ran natively (the image's enrichctl, without Docker): enrichctl %s: %s", strings.Join(args, " "), strings.TrimSpace(out.String()))
			ran++
		case words[0] == "docker":
			t.Logf("skipped, needs a Docker engine: %s", c)
			skipped++
		case words[0] == "crane":
			t.Logf("skipped, needs an image registry: %s", c)
			skipped++
		case words[0] == "kubectl" && (len(words) < 2 || words[1] != "kustomize"):
			t.Logf("skipped, needs a Kubernetes cluster: %s", c)
			skipped++
		default:
			requireTool(t, "bash", "apt-get install -y bash")
			cmd := exec.Command("bash", "-e", "-o", "pipefail", "-c", c)
			cmd.Dir = work
			cmd.Env = append(os.Environ(), "EDITOR=true", "PAGER=cat")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("%s: %v\n%s", c, err, out)
			}
			t.Logf("ran: %s (%d bytes of output)", c, len(out))
			ran++
		}
	}
	if ran == 0 {
		t.Error("no command of docs/deploy.md could run")
	}
	t.Logf("docs/deploy.md: %d commands ran, %d skipped (Docker engine or Kubernetes cluster)", ran, skipped)
	if stack != nil {
		if n := queueDepth(t, stack["AMQP_URL"], broker.WorkQueue); n != 1 {
			t.Errorf("the documented publish left %d messages in %s, want 1", n, broker.WorkQueue)
		}
	}
}

// deployDocStack is a migrated database and a vhost with the topology, as
// the compose one-shots prepare them.
func deployDocStack(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{"DATABASE_URL": testinfra.MigratedDatabase(t), "AMQP_URL": testinfra.VHost(t)}
	cfg, err := config.LoadCommon(env)
	testinfra.Must(t, err, "config")
	topo := broker.NewTopology(cfg.RetryDelays, cfg.DeliveryLimit)
	testinfra.Must(t, topo.DeclareWithRetry(context.Background(), env["AMQP_URL"], 10*time.Second, zap.NewNop()), "declare the topology")
	return env
}

func queueDepth(t *testing.T, amqpURL, q string) int {
	t.Helper()
	conn, err := amqp.Dial(amqpURL)
	testinfra.Must(t, err, "dial")
	defer conn.Close()
	ch, err := conn.Channel()
	testinfra.Must(t, err, "channel")
	defer ch.Close()
	st, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
	testinfra.Must(t, err, "inspect "+q)
	return st.Messages
}

// shellSplit splits words as bash does for the docs' simple lines, by
// asking bash.
func shellSplit(t *testing.T, s string) []string {
	t.Helper()
	out, err := exec.Command("bash", "-c", `for w in `+s+`; do printf '%s\0' "$w"; done`).Output()
	if err != nil {
		t.Fatalf("split %q: %v", s, err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}
