// Package enrichctl implements the operator CLI: migrate, publish and
// summary. Each subcommand reads the same environment as the other
// binaries; flags override it.
package enrichctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/migrate"
)

// ErrUsage is returned for a bad command line; main exits 2 for it.
var ErrUsage = errors.New("usage error")

const usage = `enrichctl: operate the enrichment service

Usage:
  enrichctl migrate up [--create-db] | down [--all | --to N] | status
  enrichctl publish --file tracks.jsonl|tracks.csv [--window N] [--priority N] [--quiet]
  enrichctl publish --track-id ID --artist A --title T [--priority N] [--duration-ms N] [--isrc X] ...
  enrichctl summary --expect N --metrics URL[,URL...] [--file tracks.jsonl] [--timeout 5m]
  enrichctl backfill [--missing=false] [--partial] [--not-found-older-than D] [--older-than D]
                     [--state FILE] [--max-rate 50] [--priority 2] [--limit N] [--force-refresh] [--dry-run]
  enrichctl status [--json] [--no-refresh] [--dlq-sample N]
  enrichctl dlq list [--json] [--limit N] [--reason R[,R...]] [--older-than D] [--newer-than D]
  enrichctl dlq replay [--reason R[,R...]] [--older-than D] [--newer-than D] [--limit N] [--dry-run]
  enrichctl dlq purge --yes

Environment: AMQP_URL, DATABASE_URL, RETRY_DELAYS, ... (docs/configuration.md).
`

// Env carries the process's I/O and environment.
type Env struct {
	Stdout, Stderr io.Writer
	// Environ overrides the process environment (tests); nil means os.Environ.
	Environ map[string]string
	// Interactive shows progress bars.
	Interactive bool
}

// Main runs one enrichctl command line.
func Main(ctx context.Context, args []string, e Env) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.Stdout, usage)
		if len(args) == 0 {
			return ErrUsage
		}
		return nil
	}
	cfg, err := config.LoadCommon(e.Environ)
	if err != nil {
		return err
	}
	err = dispatch(ctx, cfg, args, e)
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

func dispatch(ctx context.Context, cfg config.Common, args []string, e Env) error {
	switch args[0] {
	case "migrate":
		return runMigrate(ctx, cfg, args[1:], e)
	case "publish":
		return publish(ctx, cfg, args[1:], e)
	case "summary":
		return summary(ctx, cfg, args[1:], e)
	case "backfill":
		return backfill(ctx, cfg, args[1:], e)
	case "status":
		return status(ctx, cfg, args[1:], e)
	case "dlq":
		return dlq(ctx, cfg, args[1:], e)
	default:
		fmt.Fprint(e.Stderr, usage)
		return fmt.Errorf("%w: unknown command %q", ErrUsage, args[0])
	}
}

func newFlags(name string, e Env) *flag.FlagSet {
	fs := flag.NewFlagSet("enrichctl "+name, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	return fs
}

// errHelp means -h was given: the flag set printed its usage and the
// command must do nothing else.
var errHelp = errors.New("help shown")

func parseFlags(fs *flag.FlagSet, args []string) error {
	help, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if help {
		return errHelp
	}
	return nil
}

func runMigrate(ctx context.Context, cfg config.Common, args []string, e Env) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: migrate needs up, down or status", ErrUsage)
	}
	verb := args[0]
	fs := newFlags("migrate "+verb, e)
	all := fs.Bool("all", false, "down: roll back every migration")
	to := fs.String("to", "", "down: roll back to this version")
	createDB := fs.Bool("create-db", false, "up: create the database first if it does not exist")
	dbURL := fs.String("database-url", cfg.DatabaseURL, "Postgres URL (DATABASE_URL)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *createDB && verb == "up" {
		created, err := migrate.EnsureDatabase(ctx, *dbURL)
		if err != nil {
			return err
		}
		if created {
			fmt.Fprintln(e.Stdout, "created the database")
		}
	}
	m, err := migrate.New(*dbURL)
	if err != nil {
		return err
	}
	defer m.Close()
	switch verb {
	case "up":
		vs, err := m.Up(ctx)
		if err != nil {
			return err
		}
		v, err := m.Version(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "applied %d migration(s) %v; schema version %d\n", len(vs), vs, v)
	case "down":
		target := int64(-1)
		if *all {
			target = 0
		}
		if *to != "" {
			n, err := strconv.ParseInt(*to, 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("%w: --to must be a version number, got %q", ErrUsage, *to)
			}
			target = n
		}
		vs, err := m.Down(ctx, target)
		if err != nil {
			return err
		}
		v, err := m.Version(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "rolled back %d migration(s) %v; schema version %d\n", len(vs), vs, v)
	case "status":
		return m.Status(ctx, e.Stdout)
	default:
		return fmt.Errorf("%w: migrate %q: want up, down or status", ErrUsage, verb)
	}
	return nil
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
