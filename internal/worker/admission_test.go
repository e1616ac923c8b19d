package worker

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestAdmissionSlotsInOrderPriorityFirst: with every slot taken, waiting
// tasks start in arrival order as slots free up, those of the priority
// lane before the others.
func TestAdmissionSlotsInOrderPriorityFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAdmission(1, time.Minute, 10*time.Minute, nil)
		ctx := context.Background()
		rel, _, err := a.acquire(ctx, false, time.Now())
		if err != nil {
			t.Fatalf("first acquire: %v", err)
		}
		order := make(chan string, 3)
		start := func(name string, priority bool) {
			go func() {
				r, _, err := a.acquire(ctx, priority, time.Now())
				if err != nil {
					t.Errorf("%s: %v", name, err)
					return
				}
				order <- name
				r()
			}()
			synctest.Wait() // queued before the next one arrives
		}
		start("normal-1", false)
		start("normal-2", false)
		start("priority", true)
		if len(order) != 0 {
			t.Fatalf("a task started while the only slot was taken")
		}
		rel()
		var got []string
		for range 3 {
			got = append(got, <-order)
		}
		want := []string{"priority", "normal-1", "normal-2"}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("start order = %v, want %v", got, want)
			}
		}
	})
}

// TestAdmissionWaitsForTheBacklog: a task starts only once the providers'
// backlog is within the horizon, and the next one only once the first has
// taken its place in line.
func TestAdmissionWaitsForTheBacklog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var backlog atomic.Int64 // ns
		backlog.Store(int64(40 * time.Second))
		a := newAdmission(4, 15*time.Second, 10*time.Minute, func(context.Context) time.Duration {
			return time.Duration(backlog.Load())
		})
		ctx := context.Background()
		begin := time.Now()
		started := make(chan func(), 2)
		for range 2 {
			go func() {
				_, st, err := a.acquire(ctx, false, time.Now())
				if err != nil {
					t.Errorf("acquire: %v", err)
					return
				}
				started <- st
			}()
		}
		time.Sleep(20 * time.Second)
		synctest.Wait()
		if len(started) != 0 {
			t.Fatalf("a task started with the backlog at 40s, over the 15s horizon")
		}
		backlog.Store(int64(10 * time.Second))
		first := <-started
		if waited := time.Since(begin); waited < 20*time.Second || waited > 21*time.Second {
			t.Errorf("the first task started after %s, want as soon as the backlog fell (20s)", waited)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if len(started) != 0 {
			t.Fatalf("the second task started before the first had taken its place in line")
		}
		first()
		second := <-started
		second()
	})
}

// TestAdmissionHoldLimit: a task that cannot start within the hold limit
// (counted from its delivery) gets errHeld and gives back nothing.
func TestAdmissionHoldLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAdmission(1, 15*time.Second, time.Minute, func(context.Context) time.Duration { return time.Hour })
		ctx := context.Background()
		received := time.Now().Add(-30 * time.Second)
		begin := time.Now()
		_, _, err := a.acquire(ctx, false, received)
		if !errors.Is(err, errHeld) {
			t.Fatalf("acquire with the backlog at an hour = %v, want errHeld", err)
		}
		if waited := time.Since(begin); waited != 30*time.Second {
			t.Errorf("gave up after %s, want 30s (a minute after the delivery)", waited)
		}
		// The slot and the pacing turn were given back.
		a.backlog = nil
		if _, _, err := a.acquire(ctx, false, time.Now()); err != nil {
			t.Errorf("acquire after a held one = %v, want the free slot", err)
		}
		select {
		case a.pace <- struct{}{}:
		default:
			t.Errorf("the pacing turn was not given back")
		}
	})
}

// TestAdmissionCancelled: a waiting task whose context ends leaves the line
// without taking a slot from the others.
func TestAdmissionCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAdmission(1, time.Minute, 10*time.Minute, nil)
		rel, _, _ := a.acquire(context.Background(), false, time.Now())
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, _, err := a.acquire(ctx, false, time.Now())
			errc <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled acquire = %v, want context.Canceled", err)
		}
		rel()
		if a.free != 1 || a.waiting[1].Len() != 0 {
			t.Errorf("free slots %d, waiting %d; want 1 and 0", a.free, a.waiting[1].Len())
		}
	})
}
