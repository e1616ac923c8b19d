package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/match"
	"github.com/djmeta/enrichment/internal/store"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// TestOverrideIndex: once listening, the index reads match_overrides only
// for a track that has an override (by its id or its name); a change is in
// the index after its notification; before the first load and after a lost
// connection every lookup reads the table, and the index listens again.
func TestOverrideIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(coveragePool(t))
	idx := store.NewOverrideIndex(st)
	reads := store.CountQueries(idx)
	synced, failed := make(chan struct{}, 100), make(chan error, 100)
	idx.OnSync = func() { synced <- struct{}{} }
	idx.OnError = func(err error) { failed <- err }
	wait := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(20 * time.Second):
			t.Fatalf("timed out waiting for %s", what)
		}
	}
	lookup := func(trackID, nameKey string, wantReads int64, wantProviders int) {
		t.Helper()
		before := reads.Load()
		got, err := idx.Overrides(ctx, trackID, nameKey)
		testinfra.Must(t, err, "lookup")
		if n := reads.Load() - before; n != wantReads || len(got) != wantProviders {
			t.Errorf("Overrides(%q, %q): %d reads, %d providers; want %d, %d", trackID, nameKey, n, len(got), wantReads, wantProviders)
		}
	}
	name := match.NameKey("Bicep", "Glue")

	lookup("t1", name, 1, 0) // not listening yet: reads
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = idx.Run(runCtx) }()
	defer func() { stop(); wg.Wait() }()
	wait("the first load", synced)
	lookup("t1", name, 0, 0)

	reject := func(scope, key, prov string) store.OverrideRecord {
		return store.OverrideRecord{Scope: scope, Key: key, Provider: prov, Action: enrich.OverrideReject, DecidedBy: "test"}
	}
	testinfra.Must(t, st.SaveOverrides(ctx, []store.OverrideRecord{reject(enrich.ScopeTrack, "t1", "spotify")}), "save")
	wait("the reload after a track override", synced)
	lookup("t1", "other [original]", 1, 1)
	lookup("t2", "other [original]", 0, 0)

	testinfra.Must(t, st.SaveOverrides(ctx, []store.OverrideRecord{
		reject(enrich.ScopeName, name, "discogs"), reject(enrich.ScopeName, name, "musicbrainz"),
	}), "save")
	wait("the reload after name overrides (one per transaction)", synced)
	lookup("new-id", name, 1, 2)
	select {
	case <-synced:
		t.Errorf("a second reload for one transaction")
	default:
	}

	n, err := st.DeleteOverrides(ctx, "t1", name, nil)
	testinfra.Must(t, err, "delete")
	if n != 3 {
		t.Errorf("deleted %d overrides, want 3", n)
	}
	wait("the reload after the delete", synced)
	lookup("t1", name, 0, 0)

	// The listening connection is lost: lookups read until it is back.
	var killed int
	testinfra.Must(t, st.Pool().QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN `+store.OverridesChannel+`'`).Scan(&killed), "terminate")
	if killed != 1 {
		t.Fatalf("terminated %d listening connections, want 1", killed)
	}
	select {
	case err := <-failed:
		t.Logf("lost: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the index did not notice its lost connection")
	}
	wait("the index to listen again", synced)
	lookup("t1", name, 0, 0)
}
