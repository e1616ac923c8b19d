package worker

import (
	"bytes"
	"context"
	"testing"

	"github.com/djmeta/enrichment/internal/testinfra"
)

// TestRedisClientLargeValues: the worker's Redis client has small
// connection buffers; commands and replies many times their size still
// round-trip intact, alone and in one MGET.
func TestRedisClientLargeValues(t *testing.T) {
	t.Parallel()
	url, prefix := testinfra.RedisURL(t)
	rdb, err := newRedisClient(url)
	testinfra.Must(t, err, "client")
	t.Cleanup(func() { _ = rdb.Close() })
	if got := rdb.Options().ReadBufferSize; got != redisReadBuffer {
		t.Fatalf("ReadBufferSize = %d, want %d", got, redisReadBuffer)
	}
	ctx := context.Background()
	sizes := []int{10, redisWriteBuffer - 1, redisReadBuffer + 1, 10 * redisReadBuffer, 1 << 20}
	var keys []string
	var want [][]byte
	for i, n := range sizes {
		key := prefix + string(rune('a'+i))
		v := bytes.Repeat([]byte{byte('0' + i)}, n)
		v[n/2] = '\r' // bulk strings are binary-safe
		testinfra.Must(t, rdb.Set(ctx, key, v, 0).Err(), "set")
		t.Cleanup(func() { _ = rdb.Del(context.Background(), key).Err() })
		got, err := rdb.Get(ctx, key).Bytes()
		testinfra.Must(t, err, "get")
		if !bytes.Equal(got, v) {
			t.Errorf("GET of a %d-byte value returned %d bytes that differ", n, len(got))
		}
		keys = append(keys, key)
		want = append(want, v)
	}
	vals, err := rdb.MGet(ctx, keys...).Result()
	testinfra.Must(t, err, "mget")
	for i, v := range vals {
		if s, _ := v.(string); s != string(want[i]) {
			t.Errorf("MGET value %d (%d bytes) differs: got %d bytes", i, len(want[i]), len(s))
		}
	}
}
