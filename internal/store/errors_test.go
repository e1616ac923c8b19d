package store_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/djmeta/enrichment/internal/store"
)

func TestUnavailableAndBadData(t *testing.T) {
	t.Parallel()
	// A port nothing listens on: a real refused connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := store.Open(ctx, "postgres://postgres@"+addr+"/x?sslmode=disable", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	refused := st.Ping(ctx)
	// A real server, a database that does not exist: a wrong DATABASE_URL.
	noDB, err := store.Open(ctx, "postgres://postgres@127.0.0.1:5432/enrich_no_such_database?sslmode=disable", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer noDB.Close()
	missing := noDB.Ping(ctx)

	tests := []struct {
		name            string
		err             error
		unavail, badDat bool
	}{
		{"connection refused", refused, true, false},
		{"no such database", missing, true, false},
		{"write timeout", fmt.Errorf("save: %w", store.ErrWriteTimeout), true, false},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true, false},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}, true, false},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true, false},
		{"disk full", &pgconn.PgError{Code: "53100"}, true, false},
		{"no such database", &pgconn.PgError{Code: "3D000"}, true, false},
		{"bad password", &pgconn.PgError{Code: "28P01"}, true, false},
		{"read-only standby", &pgconn.PgError{Code: "25006"}, true, false},
		{"migrations not run", &pgconn.PgError{Code: "42P01"}, true, false},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, true, false},
		{"conn closed", fmt.Errorf("x: %w", pgconn.ErrConnClosed), true, false},
		{"lock timeout", &pgconn.PgError{Code: "55P03"}, false, false},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, false, false},
		{"check violation", &pgconn.PgError{Code: "23514"}, false, true},
		{"value too long", &pgconn.PgError{Code: "22001"}, false, true},
		{"caller cancelled", context.Canceled, false, false},
		{"caller deadline", fmt.Errorf("save: %w", context.DeadlineExceeded), false, false},
		{"other", errors.New("something"), false, false},
	}
	for _, tt := range tests {
		if got := store.Unavailable(tt.err); got != tt.unavail {
			t.Errorf("%s: Unavailable(%v) = %v, want %v", tt.name, tt.err, got, tt.unavail)
		}
		if got := store.BadData(tt.err); got != tt.badDat {
			t.Errorf("%s: BadData(%v) = %v, want %v", tt.name, tt.err, got, tt.badDat)
		}
	}
}
