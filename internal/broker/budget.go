package broker

import (
	"net"
	"runtime/debug"
	"sync"
	"time"
)

// RabbitMQ ignores the prefetch-size field of basic.qos: the only bound it
// offers on what a consumer holds is a message count, and a count of 128
// is 8 MiB of 64 KiB tasks but 640 MiB of 5 MB ones. The broker's
// max_message_size is a node-wide setting that a client cannot declare.
// So the consumer bounds the bytes itself, with TCP back-pressure: its
// connection stops reading from the socket while the bodies it holds
// (received, not yet settled) reach the budget, the broker's writes to it
// wait in the socket buffers, and reading resumes as deliveries are
// settled. Publishing (retries, dead letters, their confirms) goes over a
// second connection, so a full budget can never hold up the settling that
// frees it.

// deliveryOverhead is what a delivery costs besides its body (properties,
// headers, bookkeeping), counted against the budget.
const deliveryOverhead = 1 << 10

// largeDelivery is the body size past which a settled delivery's memory is
// handed back at once. No valid task comes near it (the contract's limit is
// 64 KiB): such bodies are refused, and a flood of them, each read whole
// into memory by the AMQP library (in frames, into a buffer that doubles as
// it grows), would otherwise pile up garbage between collections; the
// issue that introduced the budget measured 267 MB for forty 5 MB
// messages, and the heap stayed there.
const largeDelivery = 1 << 20

// byteBudget counts the body bytes a consumer connection holds.
type byteBudget struct {
	limit int64

	mu     sync.Mutex
	cond   *sync.Cond
	held   int64
	large  int // deliveries over largeDelivery held
	closed bool
}

func newByteBudget(limit int64) *byteBudget {
	b := &byteBudget{limit: limit}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// take counts n bytes that have arrived; it never blocks (they are here).
func (b *byteBudget) take(n int64) {
	b.mu.Lock()
	b.held += n
	if n > largeDelivery {
		b.large++
	}
	b.mu.Unlock()
}

// give returns n bytes. Returning a large delivery's bytes also collects
// its garbage and gives the memory back to the operating system.
func (b *byteBudget) give(n int64) {
	b.mu.Lock()
	b.held -= n
	if n > largeDelivery {
		b.large--
	}
	b.mu.Unlock()
	b.cond.Broadcast()
	if n > largeDelivery {
		debug.FreeOSMemory()
	}
}

// wait blocks while the budget is spent or a large delivery is held (one
// at a time: each costs several times its size while the library reads
// it), and reports whether it blocked.
func (b *byteBudget) wait() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	blocked := false
	for (b.held >= b.limit || b.large > 0) && !b.closed {
		blocked = true
		b.cond.Wait()
	}
	return blocked
}

// close releases every waiter for good (the connection is closing).
func (b *byteBudget) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cond.Broadcast()
}

// Held returns the bytes held.
func (b *byteBudget) Held() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.held
}

// throttledConn is a net.Conn whose reads wait while its budget is spent.
// The AMQP library sets a read deadline after every frame, two server
// heartbeats ahead; a read held back by the budget moves that deadline by
// the time it waited, so a deliberate pause is not mistaken for a dead
// server (the broker keeps hearing our heartbeats: writes never wait).
type throttledConn struct {
	net.Conn
	budget *byteBudget

	mu           sync.Mutex
	readDeadline time.Time
}

func (c *throttledConn) Read(p []byte) (int, error) {
	start := time.Now()
	if c.budget.wait() {
		c.mu.Lock()
		d := c.readDeadline
		c.mu.Unlock()
		if !d.IsZero() {
			if err := c.Conn.SetReadDeadline(d.Add(time.Since(start))); err != nil {
				return 0, err
			}
		}
	}
	return c.Conn.Read(p)
}

func (c *throttledConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *throttledConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *throttledConn) Close() error {
	c.budget.close()
	return c.Conn.Close()
}
