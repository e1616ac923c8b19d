package broker

import (
	"context"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// WindowSettleTimeout bounds the wait for one publish's confirm once it is
// the oldest in a Window. The wait goes on after the publishing context is
// cancelled (what was sent must be accounted for), but not for ever: a
// publish that is still unconfirmed after this long is reported failed (the
// broker may still have taken it, so a retry can duplicate it).
const WindowSettleTimeout = 30 * time.Second

// Outcome is how one entry of a Window settled.
type Outcome[T any] struct {
	Tag T
	// Published is true for an entry given to Publish, false for one given
	// to Add (settled without publishing: skipped, invalid).
	Published bool
	// Err is nil when the broker confirmed the publish (Published) or is the
	// error of Add. Otherwise ErrNacked, ErrReturned, a lost connection or a
	// timeout: the broker may not have the message.
	Err error
}

// Window publishes with confirms, keeping at most a fixed number of entries
// unsettled, and reports every entry's outcome in the order the entries
// were added. It is the one confirmed-publish loop of the operator tools
// (enrichctl publish, backfill, dlq replay and dlq import): a caller that
// keeps a cursor advances it in the callback, which sees the outcomes in
// input order whatever order the confirms come in.
//
// A Window is used from one goroutine: the callback runs inside Publish,
// Add and Flush.
type Window[T any] struct {
	sess    *Session
	size    int
	timeout time.Duration
	settled func(Outcome[T])
	entries []windowEntry[T]
}

type windowEntry[T any] struct {
	tag       T
	published bool
	ctx       context.Context // the publishing context, for its values only
	pending   *Pending        // nil when settled at once
	err       error
}

// NewWindow returns a window of size entries (at least 1) that publishes
// through sess and calls settled for each entry, in order.
func NewWindow[T any](sess *Session, size int, settled func(Outcome[T])) *Window[T] {
	return &Window[T]{sess: sess, size: max(size, 1), timeout: WindowSettleTimeout, settled: settled}
}

// Publish sends msg (persistent or not as the caller set it, always
// mandatory) and adds it to the window, first settling the oldest entries
// while the window is full. An error means the message could not be sent
// (the channel or connection is closed, or ctx is done): the entry is
// still reported, with that error, when its turn comes, and the caller
// should stop publishing.
func (w *Window[T]) Publish(ctx context.Context, exchange, key string, msg amqp.Publishing, tag T) error {
	w.makeRoom()
	p, err := w.sess.PublishAsync(ctx, exchange, key, msg)
	w.entries = append(w.entries, windowEntry[T]{tag: tag, published: true, ctx: ctx, pending: p, err: err})
	w.settleReady()
	return err
}

// Add puts an entry that needs no publish (a skipped or invalid record) in
// the window, so that the callback sees it in order. err is passed through
// to its Outcome.
func (w *Window[T]) Add(tag T, err error) {
	w.makeRoom()
	w.entries = append(w.entries, windowEntry[T]{tag: tag, err: err})
	w.settleReady()
}

// Flush settles every entry, waiting for the outstanding confirms.
func (w *Window[T]) Flush() {
	for len(w.entries) > 0 {
		w.settleHead()
	}
}

// Len is the number of unsettled entries.
func (w *Window[T]) Len() int { return len(w.entries) }

func (w *Window[T]) makeRoom() {
	for len(w.entries) >= w.size {
		w.settleHead()
	}
}

// settleReady reports the entries at the head that need no wait.
func (w *Window[T]) settleReady() {
	for len(w.entries) > 0 && w.entries[0].pending == nil {
		w.settleHead()
	}
}

func (w *Window[T]) settleHead() {
	e := w.entries[0]
	w.entries[0] = windowEntry[T]{}
	w.entries = w.entries[1:]
	err := e.err
	if e.pending != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), w.timeout)
		err = e.pending.Wait(ctx)
		cancel()
	}
	w.settled(Outcome[T]{Tag: e.tag, Published: e.published, Err: err})
}
