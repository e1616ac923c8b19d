package broker_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// windowOutcome is what a test compares of an Outcome.
type windowOutcome struct {
	Tag       int
	Published bool
	Err       string
}

func record(got *[]windowOutcome) func(broker.Outcome[int]) {
	return func(o broker.Outcome[int]) {
		e := ""
		if o.Err != nil {
			e = o.Err.Error()
		}
		*got = append(*got, windowOutcome{o.Tag, o.Published, e})
	}
}

func queueDepth(t *testing.T, sess *broker.Session, q string) int {
	t.Helper()
	ch, err := sess.Connection().Channel()
	testinfra.Must(t, err, "channel")
	defer ch.Close()
	st, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
	testinfra.Must(t, err, "inspect "+q)
	return st.Messages
}

func TestWindowReportsEveryEntryInOrder(t *testing.T) {
	t.Parallel()
	url, _ := declaredVHost(t, "1s")
	sess, err := broker.Dial(url, "window-test")
	testinfra.Must(t, err, "dial")
	defer sess.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var got []windowOutcome
	w := broker.NewWindow(sess, 4, record(&got))
	var want []windowOutcome
	maxLen := 0
	for i := 1; i <= 40; i++ {
		switch {
		case i%7 == 0: // settled without a publish, e.g. an invalid record
			w.Add(i, fmt.Errorf("record %d is invalid", i))
			want = append(want, windowOutcome{i, false, fmt.Sprintf("record %d is invalid", i)})
		case i%10 == 0: // unroutable: returned by the broker
			testinfra.Must(t, w.Publish(ctx, "", "no_such_queue", amqp.Publishing{Body: []byte("x")}, i), "publish")
			want = append(want, windowOutcome{i, true, broker.ErrReturned.Error()})
		default:
			testinfra.Must(t, w.Publish(ctx, broker.Exchange, broker.RoutingKey, amqp.Publishing{
				DeliveryMode: amqp.Persistent, Body: fmt.Appendf(nil, `{"n":%d}`, i)}, i), "publish")
			want = append(want, windowOutcome{i, true, ""})
		}
		maxLen = max(maxLen, w.Len())
	}
	w.Flush()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if maxLen > 4 || w.Len() != 0 {
		t.Errorf("window held up to %d entries (want at most 4), %d after Flush (want 0)", maxLen, w.Len())
	}
	confirmed := 0
	for _, o := range got {
		if o.Published && o.Err == "" {
			confirmed++
		}
	}
	if depth := queueDepth(t, sess, broker.WorkQueue); depth != confirmed {
		t.Errorf("work queue holds %d messages, the window confirmed %d", depth, confirmed)
	}
}

func TestWindowAfterTheConnectionIsLost(t *testing.T) {
	t.Parallel()
	url, _ := declaredVHost(t, "1s")
	sess, err := broker.Dial(url, "window-test")
	testinfra.Must(t, err, "dial")
	defer sess.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var got []windowOutcome
	w := broker.NewWindow(sess, 8, record(&got))
	msg := amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(`{}`)}
	for i := 1; i <= 3; i++ {
		testinfra.Must(t, w.Publish(ctx, broker.Exchange, broker.RoutingKey, msg, i), "publish")
	}
	w.Flush()
	testinfra.Must(t, sess.Connection().Close(), "close the connection")
	perr := w.Publish(ctx, broker.Exchange, broker.RoutingKey, msg, 4)
	if perr == nil {
		t.Fatal("publish on a closed connection: got no error")
	}
	w.Add(5, nil)
	w.Flush()
	if len(got) != 5 {
		t.Fatalf("got %d outcomes, want 5: %+v", len(got), got)
	}
	for i, o := range got[:3] {
		if o != (windowOutcome{i + 1, true, ""}) {
			t.Errorf("outcome %d = %+v, want confirmed", i+1, o)
		}
	}
	if o := got[3]; o.Tag != 4 || !o.Published || o.Err != perr.Error() {
		t.Errorf("outcome 4 = %+v, want the publish error %q", o, perr)
	}
	if o := got[4]; o != (windowOutcome{5, false, ""}) {
		t.Errorf("outcome 5 = %+v, want an added entry without error", o)
	}
	if !errors.Is(perr, amqp.ErrClosed) {
		t.Logf("publish error: %v", perr)
	}
}
