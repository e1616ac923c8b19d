package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/djmeta/enrichment/internal/enrich"
)

// OverridesChannel is the channel match_overrides' trigger notifies on every
// change (migration 00005).
const OverridesChannel = "enrichment_overrides"

// overrideIndexRetry is how long the index waits before it listens again
// after its connection failed.
const overrideIndexRetry = time.Second

// OverrideIndex is the set of keys (scope and key) that have overrides,
// held in memory and kept current by LISTEN on OverridesChannel, so that
// the engine reads match_overrides only for a track that has one: most
// tracks have none, and a read per task cost about a third of a worker's
// warm-cache throughput (docs/curation.md). While it is not listening (at
// the start, after a notification until it has reloaded, after a lost
// connection) every lookup reads the table, so a decision is missed only by
// a task that starts in the moment between its commit and the
// notification's arrival.
type OverrideIndex struct {
	query  func(ctx context.Context, trackID, nameKey string) (map[string]enrich.Override, error)
	keys   func(ctx context.Context) ([]string, error)
	listen *pgx.ConnConfig

	// OnSync, when set, is called each time the index is current again
	// (tests); OnError with each failure of the listening connection.
	OnSync  func()
	OnError func(error)

	mu     sync.RWMutex
	set    map[string]struct{}
	synced atomic.Bool
}

// NewOverrideIndex returns an index of s's overrides; Run keeps it current.
func NewOverrideIndex(s *Store) *OverrideIndex {
	return &OverrideIndex{query: s.Overrides, keys: s.overrideKeys, listen: s.pool.Config().ConnConfig.Copy()}
}

func indexKey(scope, key string) string { return scope + "\x00" + key }

// overrideKeys returns every override's scope and key (indexKey).
func (s *Store) overrideKeys(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT scope, key FROM match_overrides`)
	if err != nil {
		return nil, fmt.Errorf("read override keys: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var scope, key string
		err := r.Scan(&scope, &key)
		return indexKey(scope, key), err
	})
	if err != nil {
		return nil, fmt.Errorf("read override keys: %w", err)
	}
	return out, nil
}

// Overrides implements enrich.OverrideSource: no read when the index is
// current and holds neither the track id nor its name key.
func (x *OverrideIndex) Overrides(ctx context.Context, trackID, nameKey string) (map[string]enrich.Override, error) {
	if x.synced.Load() {
		x.mu.RLock()
		_, byTrack := x.set[indexKey(enrich.ScopeTrack, trackID)]
		_, byName := x.set[indexKey(enrich.ScopeName, nameKey)]
		x.mu.RUnlock()
		if !byTrack && !byName && x.synced.Load() {
			return nil, nil
		}
	}
	return x.query(ctx, trackID, nameKey)
}

// Synced reports whether the index is current (lookups of tracks without
// overrides read nothing).
func (x *OverrideIndex) Synced() bool { return x.synced.Load() }

// Run listens for changes and keeps the index current until ctx is done,
// when it returns nil. A failed connection makes every lookup read the
// table until it listens again.
func (x *OverrideIndex) Run(ctx context.Context) error {
	for {
		err := x.follow(ctx)
		x.synced.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		if x.OnError != nil {
			x.OnError(err)
		}
		t := time.NewTimer(overrideIndexRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// follow listens on its own connection, loads the keys, and reloads them at
// each notification, until the connection fails or ctx is done.
func (x *OverrideIndex) follow(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, x.listen)
	if err != nil {
		return fmt.Errorf("override index: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+OverridesChannel); err != nil {
		return fmt.Errorf("override index: listen: %w", err)
	}
	// Listening before loading: a change committed after the load's
	// snapshot notifies, and is loaded again.
	for {
		if err := x.reload(ctx); err != nil {
			return err
		}
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return fmt.Errorf("override index: wait: %w", err)
		}
		x.synced.Store(false)
	}
}

func (x *OverrideIndex) reload(ctx context.Context) error {
	keys, err := x.keys(ctx)
	if err != nil {
		return fmt.Errorf("override index: %w", err)
	}
	set := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		set[k] = struct{}{}
	}
	x.mu.Lock()
	x.set = set
	x.mu.Unlock()
	x.synced.Store(true)
	if x.OnSync != nil {
		x.OnSync()
	}
	return nil
}
