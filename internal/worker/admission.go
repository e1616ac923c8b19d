package worker

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"
)

// errHeld is returned by admission.acquire when a delivery has been held
// longer than the hold limit: it is deferred instead of waiting on.
var errHeld = errors.New("held longer than DELIVERY_MAX_HOLD waiting to start")

// admission decides when a valid task may start. Three things hold it back:
//
//   - a slot: at most WORKER_CONCURRENCY tasks run at once; waiting tasks
//     start in arrival order, those of the priority lane first;
//   - the quota backlog: a task starts only while the providers' backlogs
//     (how far away each one's next free request slot is, fleet-wide),
//     which it will meet one after another, add up to at most horizon, so
//     a started task reaches its slots within TASK_TIMEOUT instead of
//     queueing for quota past it;
//   - pacing: after one task passes the backlog check, the next waits until
//     it has taken its place in line (reserved its first request slot, or
//     finished its first provider step without one), so a burst of starts
//     cannot overshoot the backlog the check has just read.
//
// Waiting here costs the task nothing: its TASK_TIMEOUT starts once it is
// admitted. A task held longer than maxHold (counted from its delivery) is
// given back (deferred) so that no delivery stays unacknowledged near the
// broker's consumer timeout.
type admission struct {
	horizon time.Duration
	maxHold time.Duration
	backlog func(ctx context.Context) time.Duration // the providers' backlogs added up (nil: none)

	mu      sync.Mutex
	free    int
	waiting [2]*list.List // of chan struct{}: [0] priority lane, [1] the rest
	pace    chan struct{} // one admitted task at a time until it has started

	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// backlogPoll bounds how long a task at the gate sleeps before it reads the
// backlog again.
const backlogPoll = 500 * time.Millisecond

func newAdmission(slots int, horizon, maxHold time.Duration, backlog func(ctx context.Context) time.Duration) *admission {
	a := &admission{
		horizon: horizon, maxHold: maxHold, backlog: backlog,
		free: slots, pace: make(chan struct{}, 1),
		now: time.Now, sleep: sleepCtx,
	}
	a.waiting[0], a.waiting[1] = list.New(), list.New()
	return a
}

// acquire waits until the task may start. heldSince is when the worker
// received the delivery. It returns release, which frees the slot, and
// started, which lets the next task through the pacing step (the task's
// context hook calls it; calling it again is harmless). The error is
// errHeld, or the context's.
func (a *admission) acquire(ctx context.Context, priority bool, heldSince time.Time) (release, started func(), err error) {
	hctx, cancel := context.WithDeadline(ctx, heldSince.Add(a.maxHold))
	defer cancel()
	if err := a.slot(hctx, priority); err != nil {
		return nil, nil, a.heldOr(ctx, err)
	}
	release = sync.OnceFunc(a.releaseSlot)
	if a.backlog == nil {
		return release, func() {}, nil
	}
	select {
	case a.pace <- struct{}{}:
	case <-hctx.Done():
		release()
		return nil, nil, a.heldOr(ctx, hctx.Err())
	}
	started = sync.OnceFunc(func() { <-a.pace })
	for {
		b := a.backlog(hctx)
		if b <= a.horizon {
			return release, started, nil
		}
		if err := a.sleep(hctx, min(b-a.horizon, backlogPoll)); err != nil {
			started()
			release()
			return nil, nil, a.heldOr(ctx, err)
		}
	}
}

// heldOr maps the end of a wait to errHeld when the hold limit ended it.
func (a *admission) heldOr(ctx context.Context, err error) error {
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return errHeld
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// slot takes a slot, waiting in line for one.
func (a *admission) slot(ctx context.Context, priority bool) error {
	lane := 1
	if priority {
		lane = 0
	}
	a.mu.Lock()
	if a.free > 0 && a.waiting[0].Len() == 0 && (lane == 0 || a.waiting[1].Len() == 0) {
		a.free--
		a.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	el := a.waiting[lane].PushBack(ch)
	a.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		a.mu.Lock()
		defer a.mu.Unlock()
		select {
		case <-ch: // granted meanwhile: hand it on
			a.handOn()
		default:
			a.waiting[lane].Remove(el)
		}
		return ctx.Err()
	}
}

// releaseSlot gives a slot to the next task in line, or frees it.
func (a *admission) releaseSlot() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.handOn()
}

// handOn passes one slot on; a.mu must be held.
func (a *admission) handOn() {
	for _, l := range a.waiting {
		if e := l.Front(); e != nil {
			l.Remove(e)
			close(e.Value.(chan struct{}))
			return
		}
	}
	a.free++
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
