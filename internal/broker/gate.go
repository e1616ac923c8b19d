package broker

import "sync"

// Gate pauses and resumes a Consumer. While it is paused the consumer takes
// no deliveries: it returns the ones it holds but has not started, lets
// the running ones finish (they settle or return themselves), closes its
// subscription and reports not consuming; when the gate opens again it
// subscribes again. The worker pauses it when a dependency every task
// needs (Postgres, the broker's publish side) is down, so that tasks are
// not spent against our own outage, and opens it when the dependency
// answers again. A Gate is safe for concurrent use.
type Gate struct {
	mu     sync.Mutex
	paused bool
	reason error
	change chan struct{} // closed and replaced on every change
}

// NewGate returns a gate, paused with reason if reason is not nil.
func NewGate(reason error) *Gate {
	return &Gate{paused: reason != nil, reason: reason, change: make(chan struct{})}
}

// Pause closes the gate with a reason and reports whether it was open.
func (g *Gate) Pause(reason error) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused {
		return false
	}
	g.paused, g.reason = true, reason
	close(g.change)
	g.change = make(chan struct{})
	return true
}

// Resume opens the gate and reports whether it was paused.
func (g *Gate) Resume() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.paused {
		return false
	}
	g.paused, g.reason = false, nil
	close(g.change)
	g.change = make(chan struct{})
	return true
}

// State returns whether the gate is paused, a channel that is closed at
// the next change, and why it is paused.
func (g *Gate) State() (paused bool, changed <-chan struct{}, reason error) {
	if g == nil {
		return false, nil, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.paused, g.change, g.reason
}
