package store

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrWriteTimeout means a write did not finish within the store's write
// timeout while its caller was still waiting: Postgres is not answering in
// time (a network black hole, an overloaded server).
var ErrWriteTimeout = errors.New("postgres write timed out")

// WriteError is a failed SaveBatch whose failing write is known: the
// statement of ws[Index] failed, and the transaction was rolled back.
type WriteError struct {
	Index int
	Err   error
}

func (e *WriteError) Error() string { return e.Err.Error() }
func (e *WriteError) Unwrap() error { return e.Err }

// Unavailable reports whether err means that the database cannot be
// reached or cannot take writes at all, so that no write can succeed until
// it is fixed, whatever the task: refused or lost connections, a missing
// database, failed authentication, a shutdown, too many connections, a full
// disk, a read-only server after a failover, a schema without our tables,
// a statement or write that timed out. Such a failure is ours, not the
// task's: the worker pauses instead of spending the task's attempts.
//
// Not unavailable: a lock that was not granted within the lock timeout
// (55P03), a serialization failure or deadlock (40001, 40P01), bad data
// (classes 22 and 23): those belong to the write.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		// Whatever the server said (no such database, bad password, not
		// accepting connections, starting up), no connection means no write.
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", // connection exception
			"53", // insufficient resources: disk full, out of memory, too many connections
			"58", // system error (I/O)
			"3D", // invalid catalog name: the database does not exist
			"28", // invalid authorization
			"XX": // internal error
			return true
		}
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", "57P04", "57P05", // shutdown, crash, cannot connect now, database dropped, idle session timeout
			"57014", // query canceled: statement_timeout, a write that took longer than the write timeout
			"25006", // read-only transaction: a standby after a failover
			"42P01", // undefined table: migrations not run
			"42703", // undefined column: a schema older than this worker
			"42883": // undefined function
			return true
		}
		return false
	}
	if errors.Is(err, ErrWriteTimeout) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The caller's own deadline or cancellation: not the database's
		// fault (a stopping worker, a task over its TASK_TIMEOUT).
		return false
	}
	var netErr net.Error
	switch {
	case errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed), errors.Is(err, pgconn.ErrConnClosed):
		return true
	}
	// pgx marks errors that happened before anything was sent as safe to
	// retry (a connection that broke before the query went out).
	return pgconn.SafeToRetry(err)
}

// BadData reports whether err is Postgres refusing the values of a write
// (classes 22, data exception, and 23, integrity constraint violation): no
// retry can make it succeed.
func BadData(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	c := pgErr.Code[:2]
	return c == "22" || c == "23"
}
