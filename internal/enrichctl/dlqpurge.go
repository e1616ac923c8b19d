package enrichctl

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/djmeta/enrichment/internal/broker"
)

func init() { registerDLQ(newDLQPurgeCmd) }

func newDLQPurgeCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Delete every message of the DLQ for good (asks first; export them first)",
		Long: "purge deletes every ready message of the DLQ. It says how many and asks, or needs --yes.\n" +
			"Save them first with `enrichctl dlq export --file dlq.jsonl` (bodies and headers;\n" +
			"`enrichctl dlq import --file dlq.jsonl` puts them back). --dry-run only counts.",
		Args: noArgs,
	}
	yes := cmd.Flags().Bool("yes", false, "delete without asking")
	dryRun := cmd.Flags().Bool("dry-run", false, "only count what would be deleted")
	amqpURL := a.urlFlag(cmd, "amqp-url", "AMQP_URL", "broker URL")
	out := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		sess, err := a.dial(amqpURL, "enrichctl-dlq")
		if err != nil {
			return err
		}
		defer sess.Close()
		depth, err := queueDepth(sess, broker.DeadLetterQueue)
		if err != nil {
			return err
		}
		rep := struct {
			Queue  string `json:"queue"`
			DryRun bool   `json:"dry_run,omitempty"`
			Purged int    `json:"purged"`
			Depth  int    `json:"depth"` // ready messages before the purge
		}{Queue: broker.DeadLetterQueue, DryRun: *dryRun, Depth: depth}
		if !*dryRun && depth > 0 {
			if err := a.confirm(*yes, fmt.Sprintf("dlq purge would delete the %d message(s) of %s for good (see dlq export)",
				depth, broker.DeadLetterQueue)); err != nil {
				return err
			}
			ch, err := sess.Connection().Channel()
			if err != nil {
				return fmt.Errorf("open channel: %w", err)
			}
			defer ch.Close()
			if rep.Purged, err = ch.QueuePurge(broker.DeadLetterQueue, false); err != nil {
				return fmt.Errorf("purge %s: %w", broker.DeadLetterQueue, err)
			}
		}
		if out.json() {
			return writeJSON(a.env.Stdout, rep)
		}
		if *dryRun {
			_, err = fmt.Fprintf(a.env.Stdout, "dlq purge (dry run): would delete %d message(s) from %s; nothing changed\n", depth, broker.DeadLetterQueue)
		} else {
			_, err = fmt.Fprintf(a.env.Stdout, "purged %d message(s) from %s\n", rep.Purged, broker.DeadLetterQueue)
		}
		return err
	}
	return cmd
}
