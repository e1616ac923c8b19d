package enrichctl

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/djmeta/enrichment/internal/migrate"
)

func init() { register(newMigrateCmd) }

func newMigrateCmd(a *app) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "migrate",
		Short: "Apply, roll back or list the schema migrations",
		Long: "migrate runs the migrations embedded in enrichctl (migrations/) against DATABASE_URL.\n" +
			"Rolling back asks first, or needs --yes: a down migration drops data.",
	})
	cmd.AddCommand(newMigrateUpCmd(a), newMigrateDownCmd(a), newMigrateStatusCmd(a))
	return cmd
}

// migrateReport is what migrate up and down report.
type migrateReport struct {
	Action   string  `json:"action"` // up, down
	DryRun   bool    `json:"dry_run,omitempty"`
	Created  bool    `json:"created_database,omitempty"`
	Versions []int64 `json:"versions"`
	Schema   int64   `json:"schema_version"`
}

func newMigrateUpCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		Args:  noArgs,
	}
	createDB := cmd.Flags().Bool("create-db", false, "create the database first if it does not exist")
	db := a.urlFlag(cmd, "database-url", "DATABASE_URL", "Postgres URL")
	out := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		url, err := a.databaseURL(db)
		if err != nil {
			return err
		}
		rep := migrateReport{Action: "up", Versions: []int64{}}
		if *createDB {
			if rep.Created, err = migrate.EnsureDatabase(a.ctx, url); err != nil {
				return err
			}
		}
		m, err := migrate.New(url)
		if err != nil {
			return err
		}
		defer m.Close()
		vs, err := m.Up(a.ctx)
		if err != nil {
			return err
		}
		rep.Versions = append(rep.Versions, vs...)
		if rep.Schema, err = m.Version(a.ctx); err != nil {
			return err
		}
		if out.json() {
			return writeJSON(a.env.Stdout, rep)
		}
		if rep.Created {
			fmt.Fprintln(a.env.Stdout, "created the database")
		}
		_, err = fmt.Fprintf(a.env.Stdout, "applied %d migration(s) %v; schema version %d\n", len(rep.Versions), rep.Versions, rep.Schema)
		return err
	}
	return cmd
}

func newMigrateDownCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Roll back the newest migration, or down to a version (asks first)",
		Long: "down rolls back the newest applied migration; --to N rolls back every migration above\n" +
			"version N, --all every migration. Down migrations drop tables and columns with their data,\n" +
			"so it lists what it would roll back and asks, or needs --yes (stdin not a terminal).\n" +
			"--dry-run only lists.",
		Args: noArgs,
	}
	all := cmd.Flags().Bool("all", false, "roll back every migration")
	to := cmd.Flags().Int64("to", -1, "roll back every migration above this version")
	dryRun := cmd.Flags().Bool("dry-run", false, "only list the migrations that would be rolled back")
	yes := cmd.Flags().Bool("yes", false, "do not ask")
	db := a.urlFlag(cmd, "database-url", "DATABASE_URL", "Postgres URL")
	out := addOutput(cmd)
	cmd.MarkFlagsMutuallyExclusive("all", "to")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		target := int64(-1)
		switch {
		case *all:
			target = 0
		case cmd.Flags().Changed("to"):
			if *to < 0 {
				return usageErr("--to must be a version number (0 or more), got %d", *to)
			}
			target = *to
		}
		url, err := a.databaseURL(db)
		if err != nil {
			return err
		}
		m, err := migrate.New(url)
		if err != nil {
			return err
		}
		defer m.Close()
		plan, err := m.DownPlan(a.ctx, target)
		if err != nil {
			return err
		}
		rep := migrateReport{Action: "down", DryRun: *dryRun, Versions: []int64{}}
		names := make([]string, 0, len(plan))
		for _, s := range plan {
			rep.Versions = append(rep.Versions, s.Version)
			names = append(names, s.Name)
		}
		if len(plan) > 0 && !*dryRun {
			err := a.confirm(*yes, fmt.Sprintf("migrate down would roll back %d migration(s) of %s: %s; their tables and columns are dropped with their data",
				len(plan), describeDB(url), strings.Join(names, ", ")))
			if err != nil {
				return err
			}
			if rep.Versions, err = m.Down(a.ctx, target); err != nil {
				return err
			}
			if rep.Versions == nil {
				rep.Versions = []int64{}
			}
		}
		if rep.Schema, err = m.Version(a.ctx); err != nil {
			return err
		}
		if out.json() {
			return writeJSON(a.env.Stdout, rep)
		}
		switch {
		case len(plan) == 0:
			_, err = fmt.Fprintf(a.env.Stdout, "nothing to roll back; schema version %d\n", rep.Schema)
		case *dryRun:
			_, err = fmt.Fprintf(a.env.Stdout, "migrate down (dry run): would roll back %d migration(s): %s; nothing changed, schema version %d\n",
				len(plan), strings.Join(names, ", "), rep.Schema)
		default:
			_, err = fmt.Fprintf(a.env.Stdout, "rolled back %d migration(s) %v; schema version %d\n", len(rep.Versions), rep.Versions, rep.Schema)
		}
		return err
	}
	return cmd
}

func newMigrateStatusCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "List the migrations and which are applied",
		Args:  noArgs,
	}
	db := a.urlFlag(cmd, "database-url", "DATABASE_URL", "Postgres URL")
	out := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		url, err := a.databaseURL(db)
		if err != nil {
			return err
		}
		m, err := migrate.New(url)
		if err != nil {
			return err
		}
		defer m.Close()
		st, err := m.States(a.ctx)
		if err != nil {
			return err
		}
		if out.json() {
			return writeJSON(a.env.Stdout, struct {
				Migrations []migrate.State `json:"migrations"`
			}{nonNil(st)})
		}
		tw := tabwriter.NewWriter(a.env.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tNAME\tSTATE")
		for _, s := range st {
			state := "pending"
			if s.Applied {
				state = "applied " + s.AppliedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%05d\t%s\t%s\n", s.Version, Escape(s.Name), state)
		}
		return tw.Flush()
	}
	return cmd
}

// describeDB names a database for a prompt without its password.
func describeDB(url string) string {
	c, err := pgx.ParseConfig(url)
	if err != nil {
		return "the database"
	}
	return fmt.Sprintf("database %q on %s:%d", c.Database, c.Host, c.Port)
}
