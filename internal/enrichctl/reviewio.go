package enrichctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/djmeta/enrichment/internal/store"
)

// maxOverrideLine bounds one line of an overrides file (a recording with
// its releases is a few KiB).
const maxOverrideLine = 1 << 20

func init() {
	registerReview(newReviewExportCmd)
	registerReview(newReviewImportCmd)
}

func newReviewExportCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write every override as JSON lines (to move them to another environment)",
		Long: "export writes every override, one JSON object per line, in scope, key and provider order:\n" +
			"review import in another environment (or after a wipe) restores the same decisions.",
		Example: "  enrichctl review export --file overrides.jsonl",
		Args:    noArgs,
	}
	file := cmd.Flags().String("file", "-", "write to this file (- for stdout)")
	dbURL := a.urlFlag(cmd, "database-url", "DATABASE_URL", "Postgres URL")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		st, err := a.openStore(dbURL)
		if err != nil {
			return err
		}
		defer st.Close()
		all, err := st.AllOverrides(a.ctx)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for _, o := range all {
			if err := enc.Encode(o); err != nil {
				return fmt.Errorf("encode override: %w", err)
			}
		}
		if *file == "-" {
			_, err := a.env.Stdout.Write(buf.Bytes())
			return err
		}
		if err := os.WriteFile(*file, buf.Bytes(), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", *file, err)
		}
		_, err = fmt.Fprintf(a.env.Stderr, "exported %d overrides to %s\n", len(all), Escape(*file))
		return err
	}
	return cmd
}

func newReviewImportCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Write the overrides of an export (JSON lines); all or nothing",
		Long: "import reads overrides as review export writes them and saves them in one transaction,\n" +
			"replacing those of the same scope, key and provider. Every line is checked first; one bad\n" +
			"line writes nothing. The rows take them at their next enrichment (backfill, rematch).",
		Example: "  enrichctl review import --file overrides.jsonl",
		Args:    noArgs,
	}
	file := cmd.Flags().String("file", "", "read this file (- for stdin); required")
	dbURL := a.urlFlag(cmd, "database-url", "DATABASE_URL", "Postgres URL")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *file == "" {
			return usageErr("--file is required")
		}
		in, err := openInput(*file, a.env.Stdin, maxOverrideLine, false)
		if err != nil {
			return err
		}
		defer in.close()
		var recs []store.OverrideRecord
		for n := 1; ; n++ {
			line, _, err := in.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if errors.Is(err, errLineTooLong) {
				return fmt.Errorf("line %d: longer than %d bytes", n, maxOverrideLine)
			}
			if err != nil {
				return err
			}
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var o store.OverrideRecord
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&o); err != nil {
				return fmt.Errorf("line %d: %s", n, Escape(err.Error()))
			}
			if err := o.Validate(); err != nil {
				return fmt.Errorf("line %d: %s", n, Escape(err.Error()))
			}
			recs = append(recs, o)
		}
		st, err := a.openStore(dbURL)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.SaveOverrides(a.ctx, recs); err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.env.Stdout, "imported %d overrides\n", len(recs))
		return err
	}
	return cmd
}
