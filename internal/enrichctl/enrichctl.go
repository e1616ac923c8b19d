// Package enrichctl implements the operator CLI of the enrichment service on
// cobra: each verb is one file that registers its command (register, or
// registerDLQ for a dlq verb) from an init function, so a new verb is a new
// file. Every command reads the same environment as the other binaries;
// flags override it. Help names the variables and says whether they are
// set, never their values (connection URLs carry passwords).
package enrichctl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/store"
)

// ErrUsage is returned for a bad command line; Run exits 2 for it.
var ErrUsage = errors.New("usage error")

// usageErr is a usage error with a message.
func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}

// Version is the build version, set by the linker
// (-X github.com/djmeta/enrichment/internal/enrichctl.Version=...); empty
// means the module's or VCS's version, or dev.
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	switch {
	case rev != "":
		return rev[:min(12, len(rev))] + dirty
	case bi.Main.Version != "" && bi.Main.Version != "(devel)":
		return bi.Main.Version
	}
	return "dev"
}

// Env carries the process's I/O and environment.
type Env struct {
	Stdout, Stderr io.Writer
	// Stdin is read by `--file -` and by confirmation prompts; nil is empty.
	Stdin io.Reader
	// Environ overrides the process environment (tests); nil means os.Environ.
	Environ map[string]string
	// Interactive shows progress bars (stderr is a terminal).
	Interactive bool
	// StdinTerminal means stdin is a terminal, so a destructive command may
	// ask for confirmation instead of requiring --yes.
	StdinTerminal bool
}

// StdEnv is the process's own standard streams and environment.
func StdEnv() Env {
	return Env{
		Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin,
		Interactive:   term.IsTerminal(int(os.Stderr.Fd())),
		StdinTerminal: term.IsTerminal(int(os.Stdin.Fd())),
	}
}

func (e Env) withDefaults() Env {
	if e.Stdout == nil {
		e.Stdout = io.Discard
	}
	if e.Stderr == nil {
		e.Stderr = io.Discard
	}
	if e.Stdin == nil {
		e.Stdin = strings.NewReader("")
	}
	return e
}

// lookup reads a variable of the environment the command runs with; an
// empty value counts as unset.
func (e Env) lookup(name string) (string, bool) {
	v, ok := e.Environ[name]
	if e.Environ == nil {
		v, ok = os.LookupEnv(name)
	}
	return v, ok && v != ""
}

// getenv is lookup with a default.
func (e Env) getenv(name, def string) string {
	if v, ok := e.lookup(name); ok {
		return v
	}
	return def
}

// verbs are the top-level commands, registered by their files.
var verbs []func(*app) *cobra.Command

// register adds a top-level command; call it from an init function.
func register(f func(*app) *cobra.Command) { verbs = append(verbs, f) }

// app is one invocation: what every command needs.
type app struct {
	ctx context.Context
	env Env
	// started is set once a command's own code runs: its flags and
	// arguments were valid. An error before that is a usage error.
	started bool
	cfg     *config.Common
}

// config loads the shared configuration on first use (help never loads it).
func (a *app) config() (config.Common, error) {
	if a.cfg == nil {
		c, err := config.LoadCommon(a.env.Environ)
		if err != nil {
			return config.Common{}, err
		}
		a.cfg = &c
	}
	return *a.cfg, nil
}

// envVars are the variables enrichctl reads, for the help text.
var envVars = []string{"AMQP_URL", "DATABASE_URL", "RABBITMQ_API_URL", "RETRY_DELAYS", "QUEUE_DELIVERY_LIMIT",
	"REDIS_URL", "CACHE_PREFIX", "PROVIDERS", "SPOTIFY_RATE", "MUSICBRAINZ_RATE", "DISCOGS_RATE"}

func (a *app) envHelp() string {
	var b strings.Builder
	b.WriteString("Environment (flags override it; values are never shown here):\n")
	for _, name := range envVars {
		state := "not set: the built-in default (docs/configuration.md)"
		if _, ok := a.env.lookup(name); ok {
			state = "set"
		}
		fmt.Fprintf(&b, "  %-22s %s\n", name, state)
	}
	return b.String()
}

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "enrichctl",
		Short: "Operate the enrichment service",
		Long: "enrichctl operates the enrichment service: schema migrations, publishing tasks, backfills,\n" +
			"the pipeline's status, the rows that are one recording and the dead-letter queue (docs/operations.md).\n\n" +
			"Exit status: 0 success, 1 failure, 2 usage error.\n\n" + a.envHelp(),
		Example: strings.Join([]string{
			"  enrichctl migrate up",
			"  enrichctl publish --file tracks.jsonl --state publish-state.json",
			"  enrichctl status -o json",
			"  enrichctl dlq export --file dlq.jsonl && enrichctl dlq purge --yes",
		}, "\n"),
		Version:       version(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetVersionTemplate("enrichctl {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr("%v", err) })
	for _, f := range verbs {
		root.AddCommand(f(a))
	}
	markStart(a, root)
	return root
}

// markStart makes every command note when its own code starts: cobra has
// then checked the flags, their groups and the arguments.
func markStart(a *app, c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			a.started = true
			return run(cmd, args)
		}
	}
	for _, sub := range c.Commands() {
		markStart(a, sub)
	}
}

// Main runs one enrichctl command line and returns its error; errors.Is(err,
// ErrUsage) for a bad command line.
func Main(ctx context.Context, args []string, e Env) error {
	_, err := execute(ctx, args, e)
	return err
}

// Run runs one command line, prints its error and returns the exit status:
// 0, 1 for a failure, 2 for a usage error.
func Run(ctx context.Context, args []string, e Env) int {
	e = e.withDefaults()
	path, err := execute(ctx, args, e)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(e.Stderr, "enrichctl: %s\nRun '%s --help' for usage.\n", escapeLines(err.Error()), path)
		return 2
	default:
		fmt.Fprintf(e.Stderr, "enrichctl: %s\n", escapeLines(err.Error()))
		return 1
	}
}

// execute runs the command line and returns the path of the command it
// found (for the usage hint) and its error.
func execute(ctx context.Context, args []string, e Env) (string, error) {
	e = e.withDefaults()
	a := &app{ctx: ctx, env: e}
	root := newRoot(a)
	root.SetArgs(args)
	root.SetOut(e.Stdout)
	root.SetErr(e.Stderr)
	root.SetIn(e.Stdin)
	cmd, err := root.ExecuteContextC(ctx)
	path := root.CommandPath()
	if cmd != nil {
		path = cmd.CommandPath()
	}
	if err != nil && !a.started && !errors.Is(err, ErrUsage) {
		// cobra's own errors: an unknown command or a bad argument.
		err = fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return path, err
}

// noArgs refuses positional arguments, naming them: flags carry everything.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErr("%s takes no arguments, got %s (options are flags, e.g. --reason; see --help)",
			cmd.CommandPath(), quoteAll(args))
	}
	return nil
}

func quoteAll(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = fmt.Sprintf("%q", a)
	}
	return strings.Join(q, " ")
}

// group makes a command that only holds verbs: run without one, or with an
// unknown one, it is a usage error (help with -h exits 0).
func group(cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	cmd.SuggestionsMinimumDistance = 2
	cmd.RunE = func(c *cobra.Command, args []string) error {
		var names []string
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		sort.Strings(names)
		if len(args) == 0 {
			return usageErr("%s needs a command: %s", c.CommandPath(), strings.Join(names, ", "))
		}
		msg := fmt.Sprintf("%s: unknown command %q (want %s)", c.CommandPath(), args[0], strings.Join(names, ", "))
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return usageErr("%s", msg)
	}
	return cmd
}

// output is the -o/--output (and --json) flag of a command that reports.
type output struct {
	format string
	asJSON bool
}

type formatValue struct{ p *string }

func (f formatValue) String() string { return *f.p }
func (f formatValue) Type() string   { return "format" }
func (f formatValue) Set(s string) error {
	switch s {
	case "table", "json":
		*f.p = s
		return nil
	}
	return fmt.Errorf("want table or json, got %q", s)
}

func addOutput(cmd *cobra.Command) *output {
	o := &output{format: "table"}
	cmd.Flags().VarP(formatValue{&o.format}, "output", "o", "output format: table or json")
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "same as -o json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return o
}

func (o *output) json() bool { return o.asJSON || o.format == "json" }

// envURL is a connection URL flag that defaults to an environment variable.
// Its help names the variable and says whether it is set, never the value.
type envURL struct{ value string }

func (a *app) urlFlag(cmd *cobra.Command, name, env, what string) *envURL {
	u := &envURL{}
	state := "not set, so the built-in default"
	if _, ok := a.env.lookup(env); ok {
		state = "set"
	}
	cmd.Flags().StringVar(&u.value, name, "", fmt.Sprintf("%s (default: $%s, %s)", what, env, state))
	return u
}

// or returns the flag's value, or def (from the environment) without one.
func (u *envURL) or(def string) string {
	if u.value != "" {
		return u.value
	}
	return def
}

// amqpURL is the --amqp-url flag or AMQP_URL.
func (a *app) amqpURL(u *envURL) (string, error) {
	if u.value != "" {
		return u.value, nil
	}
	c, err := a.config()
	return c.AMQPURL, err
}

// databaseURL is the --database-url flag or DATABASE_URL.
func (a *app) databaseURL(u *envURL) (string, error) {
	if u.value != "" {
		return u.value, nil
	}
	c, err := a.config()
	return c.DatabaseURL, err
}

// confirm lets a destructive action go ahead: with --yes, or when the
// operator types yes at the terminal. Without a terminal on stdin it
// refuses (a usage error), so a script never destroys by default.
// openStore opens the database of --database-url or DATABASE_URL.
func (a *app) openStore(u *envURL) (*store.Store, error) {
	db, err := a.databaseURL(u)
	if err != nil {
		return nil, err
	}
	return store.Open(a.ctx, db, 2)
}

func (a *app) confirm(yes bool, action string) error {
	if yes {
		return nil
	}
	if !a.env.StdinTerminal {
		return usageErr("%s: refusing without --yes (stdin is not a terminal, so enrichctl cannot ask); nothing changed", action)
	}
	fmt.Fprintf(a.env.Stderr, "%s\nType yes to go ahead: ", Escape(action))
	line, err := bufio.NewReader(a.env.Stdin).ReadString('\n')
	if strings.TrimSpace(line) == "yes" {
		return nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read the confirmation: %w", err)
	}
	return errors.New("not confirmed; nothing changed")
}

func init() {
	register(func(a *app) *cobra.Command {
		cmd := &cobra.Command{
			Use:   "version",
			Short: "Print enrichctl's version",
			Args:  noArgs,
		}
		out := addOutput(cmd)
		cmd.RunE = func(cmd *cobra.Command, _ []string) error {
			v := struct {
				Version string `json:"version"`
				Go      string `json:"go"`
			}{version(), runtime.Version()}
			if out.json() {
				return writeJSON(a.env.Stdout, v)
			}
			_, err := fmt.Fprintf(a.env.Stdout, "enrichctl %s (%s)\n", v.Version, v.Go)
			return err
		}
		return cmd
	})
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
