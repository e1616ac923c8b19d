package enrichctl

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/djmeta/enrichment/internal/broker"
)

func init() { registerDLQ(newDLQListCmd) }

func newDLQListCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Show dead-lettered messages: reason, attempts, age, track id, error",
		Long: "list reads the DLQ's messages (basic.get) and puts every one back in place. AGE is the time\n" +
			"since the task first failed. Text taken from messages is escaped: control and bidirectional\n" +
			"characters are shown as \\x1b, \\u202e and so on, never sent to the terminal.",
		Args: noArgs,
	}
	filters := addFilterFlags(cmd)
	limit := cmd.Flags().Int("limit", DLQListLimitDefault, "show at most N")
	amqpURL := a.urlFlag(cmd, "amqp-url", "AMQP_URL", "broker URL")
	out := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *limit < 1 {
			return usageErr("--limit must be at least 1, got %d", *limit)
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
		msgs, depth, err := sampleDLQ(sess.Connection(), f, *limit)
		if err != nil {
			return err
		}
		if out.json() {
			return writeJSON(a.env.Stdout, struct {
				Queue    string       `json:"queue"`
				Depth    int          `json:"depth"`
				Messages []dlqMessage `json:"messages"`
			}{broker.DeadLetterQueue, depth, nonNil(msgs)})
		}
		if err := writeDLQTable(a.env.Stdout, msgs); err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.env.Stdout, "%d shown of %d message(s) in %s; all left in place\n", len(msgs), depth, broker.DeadLetterQueue)
		return err
	}
	return cmd
}
