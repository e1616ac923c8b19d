package enrichctl

import (
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/spf13/cobra"

	"github.com/djmeta/enrichment/internal/broker"
)

func init() { registerDLQ(newDLQPurgeCmd) }

// purgeSelected deletes the messages that match f among those in the DLQ
// when it starts, and puts the others back. It returns how many it
// deleted.
func purgeSelected(conn *amqp.Connection, f dlqFilter) (int, error) {
	r, err := openDLQ(conn)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	deleted := 0
	var failure error
	for i := 0; i < r.examine; i++ {
		d, ok, err := r.next()
		if err != nil {
			failure = err
			break
		}
		if !ok {
			break
		}
		if !f.match(describeDLQ(d, now)) {
			r.hold(d)
			continue
		}
		if err := r.ch.Ack(d.DeliveryTag, false); err != nil {
			failure = fmt.Errorf("delete from %s: %w", broker.DeadLetterQueue, err)
			break
		}
		deleted++
	}
	if err := r.close(); err != nil && failure == nil {
		failure = err
	}
	return deleted, failure
}

func newDLQPurgeCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Delete messages of the DLQ for good: all, or those a filter selects (asks first)",
		Long: "purge deletes every ready message of the DLQ, or with --reason, --older-than or --newer-than\n" +
			"only the messages they select (the others are put back). It says how many and asks, or\n" +
			"needs --yes. Save them first with `enrichctl dlq export --file dlq.jsonl` (same filters;\n" +
			"`enrichctl dlq import --file dlq.jsonl` puts them back). --dry-run only counts.",
		Args: noArgs,
	}
	filters := addFilterFlags(cmd)
	yes := cmd.Flags().Bool("yes", false, "delete without asking")
	dryRun := cmd.Flags().Bool("dry-run", false, "only count what would be deleted")
	amqpURL := a.urlFlag(cmd, "amqp-url", "AMQP_URL", "broker URL")
	out := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f, err := filters.filter()
		if err != nil {
			return err
		}
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
			Queue    string `json:"queue"`
			DryRun   bool   `json:"dry_run,omitempty"`
			Depth    int    `json:"depth"`    // ready messages before the purge
			Selected int    `json:"selected"` // that the filters select (all without filters)
			Purged   int    `json:"purged"`
		}{Queue: broker.DeadLetterQueue, DryRun: *dryRun, Depth: depth, Selected: depth}
		what := "all"
		if filters.any() {
			what = "the selected"
			msgs, _, err := sampleDLQ(sess.Connection(), f, 0)
			if err != nil {
				return err
			}
			rep.Selected = len(msgs)
		}
		if !*dryRun && rep.Selected > 0 {
			if err := a.confirm(*yes, fmt.Sprintf("dlq purge would delete %s %d message(s) of the %d in %s for good (see dlq export)",
				what, rep.Selected, depth, broker.DeadLetterQueue)); err != nil {
				return err
			}
			if filters.any() {
				rep.Purged, err = purgeSelected(sess.Connection(), f)
			} else {
				rep.Purged, err = purgeAll(sess)
			}
			if err != nil {
				return err
			}
		}
		if out.json() {
			return writeJSON(a.env.Stdout, rep)
		}
		if *dryRun {
			_, err = fmt.Fprintf(a.env.Stdout, "dlq purge (dry run): would delete %d of the %d message(s) in %s; nothing changed\n",
				rep.Selected, depth, broker.DeadLetterQueue)
		} else {
			_, err = fmt.Fprintf(a.env.Stdout, "purged %d message(s) from %s\n", rep.Purged, broker.DeadLetterQueue)
		}
		return err
	}
	return cmd
}

func purgeAll(sess *broker.Session) (int, error) {
	ch, err := sess.Connection().Channel()
	if err != nil {
		return 0, fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	n, err := ch.QueuePurge(broker.DeadLetterQueue, false)
	if err != nil {
		return 0, fmt.Errorf("purge %s: %w", broker.DeadLetterQueue, err)
	}
	return n, nil
}
