package enrichctl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/djmeta/enrichment/internal/broker"
)

func init() { registerDLQ(newDLQReplayCmd) }

// replayResult counts what a replay did.
type replayResult struct {
	DryRun   bool `json:"dry_run,omitempty"`
	Examined int  `json:"examined"` // messages read from the DLQ
	Replayed int  `json:"replayed"` // republished with a confirm and removed from the DLQ
	Failed   int  `json:"failed"`   // not confirmed: left in the DLQ
	Left     int  `json:"not_selected"`
	// Selected are the messages replayed (or, in a dry run, that would be).
	Selected []dlqMessage `json:"selected"`
}

// replayEntry is one republished DLQ message in the window.
type replayEntry struct {
	tag uint64
	msg dlqMessage
}

// replayDLQ republishes the selected messages to the work exchange (at most
// limit, 0: all) through a confirm window, acking each in the DLQ after its
// confirm; the others are requeued untouched at the end. It reads at most
// the messages in the DLQ when it starts, so a replayed task that fails
// again during the run is not replayed twice. With dryRun it only reports
// the selection.
func replayDLQ(ctx context.Context, sess *broker.Session, f dlqFilter, limit, window int, dryRun bool) (replayResult, error) {
	res := replayResult{DryRun: dryRun}
	r, err := openDLQ(sess.Connection())
	if err != nil {
		return res, err
	}
	var failure error
	fail := func(err error) {
		if failure == nil {
			failure = err
		}
	}
	w := broker.NewWindow(sess, window, func(o broker.Outcome[replayEntry]) {
		if o.Err != nil {
			res.Failed++
			fail(fmt.Errorf("republish: %w", o.Err))
			if err := r.ch.Nack(o.Tag.tag, false, true); err != nil {
				fail(fmt.Errorf("requeue in %s: %w", broker.DeadLetterQueue, err))
			}
			return
		}
		if err := r.ch.Ack(o.Tag.tag, false); err != nil {
			// The task is in the work queue and stays in the DLQ: a duplicate.
			fail(fmt.Errorf("ack in %s after republishing (the message is now in both queues): %w", broker.DeadLetterQueue, err))
			return
		}
		res.Replayed++
		res.Selected = append(res.Selected, o.Tag.msg)
	})
	now := time.Now()
	chosen := 0 // messages selected so far
	for res.Examined < r.examine && (limit <= 0 || chosen < limit) {
		if ctx.Err() != nil || failure != nil {
			break
		}
		d, ok, err := r.next()
		if err != nil {
			fail(err)
			break
		}
		if !ok {
			break
		}
		res.Examined++
		m := describeDLQ(d, now)
		if !f.match(m) {
			r.hold(d)
			res.Left++
			continue
		}
		chosen++
		if dryRun {
			r.hold(d)
			res.Selected = append(res.Selected, m)
			continue
		}
		if err := w.Publish(ctx, broker.Exchange, broker.RoutingKey, replayPublishing(d), replayEntry{d.DeliveryTag, m}); err != nil {
			break // reported (and requeued) by the window
		}
	}
	w.Flush()
	if err := r.close(); err != nil {
		fail(err)
	}
	if failure == nil && ctx.Err() != nil {
		failure = fmt.Errorf("replay interrupted: %w", ctx.Err())
	}
	res.Selected = nonNil(res.Selected)
	return res, failure
}

func newDLQReplayCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Republish dead-lettered tasks to the work queue (asks first without a filter)",
		Long: "replay republishes the selected messages, body unchanged and without the attempt headers,\n" +
			"to the work exchange with publisher confirms, and removes each from the DLQ only after its\n" +
			"confirm. Without a filter (--reason, --older-than, --newer-than) it would replay everything,\n" +
			"so it asks first, or needs --yes. --dry-run only lists the selection.",
		Args: noArgs,
	}
	filters := addFilterFlags(cmd)
	limit := cmd.Flags().Int("limit", 0, "replay at most N (0: all selected)")
	window := cmd.Flags().Int("window", PublishWindowDefault, "unconfirmed republishes in flight")
	dryRun := cmd.Flags().Bool("dry-run", false, "only show what would be replayed")
	yes := cmd.Flags().Bool("yes", false, "replay without asking, also without a filter")
	amqpURL := a.urlFlag(cmd, "amqp-url", "AMQP_URL", "broker URL")
	out := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		switch {
		case *limit < 0:
			return usageErr("--limit must not be negative, got %d", *limit)
		case *window < 1 || *window > 10000:
			return usageErr("--window must be in [1, 10000], got %d", *window)
		}
		f, err := filters.filter()
		if err != nil {
			return err
		}
		sess, err := a.dial(amqpURL, "enrichctl-dlq")
		if err != nil {
			return err
		}
		defer sess.Close()
		if !*dryRun && !filters.any() {
			depth, err := queueDepth(sess, broker.DeadLetterQueue)
			if err != nil {
				return err
			}
			what := fmt.Sprintf("dlq replay without a filter would replay all %d message(s) of %s", depth, broker.DeadLetterQueue)
			if *limit > 0 {
				what = fmt.Sprintf("dlq replay without a filter would replay the first %d of the %d message(s) of %s", min(*limit, depth), depth, broker.DeadLetterQueue)
			}
			if depth > 0 {
				if err := a.confirm(*yes, what+" (poison messages too; see --reason)"); err != nil {
					return err
				}
			}
		}
		res, err := replayDLQ(a.ctx, sess, f, *limit, *window, *dryRun)
		if out.json() {
			if werr := writeJSON(a.env.Stdout, res); werr != nil {
				return errors.Join(err, werr)
			}
			return err
		}
		if *dryRun {
			if werr := writeDLQTable(a.env.Stdout, res.Selected); werr != nil && err == nil {
				err = werr
			}
			fmt.Fprintf(a.env.Stdout, "dlq replay (dry run): %d message(s) would be replayed, %d examined; nothing changed\n",
				len(res.Selected), res.Examined)
			return err
		}
		fmt.Fprintf(a.env.Stdout, "dlq replay: %d replayed to %s, %d failed (left in the DLQ), %d not selected (left in the DLQ), %d examined\n",
			res.Replayed, broker.Exchange, res.Failed, res.Left, res.Examined)
		return err
	}
	return cmd
}

// queueDepth is a queue's ready count, by a passive declare.
func queueDepth(sess *broker.Session, q string) (int, error) {
	ch, err := sess.Connection().Channel()
	if err != nil {
		return 0, fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	st, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
	if err != nil {
		return 0, fmt.Errorf("inspect %s (run queue-init?): %w", q, err)
	}
	return st.Messages, nil
}
