package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoadWorkerDefaults(t *testing.T) {
	c, err := LoadWorker(map[string]string{})
	if err != nil {
		t.Fatalf("LoadWorker(empty) error = %v", err)
	}
	if c.AMQPURL != AMQPURLDefault || c.DatabaseURL != DatabaseURLDefault || c.MetricsAddr != MetricsAddrDefault {
		t.Errorf("defaults = %q %q %q", c.AMQPURL, c.DatabaseURL, c.MetricsAddr)
	}
	if got := c.RetryDelays.String(); got != RetryDelaysDefault {
		t.Errorf("RetryDelays = %q, want %q", got, RetryDelaysDefault)
	}
	if c.Concurrency != ConcurrencyDefault || c.Prefetch != PrefetchDefault || c.DrainTimeout != DrainTimeoutDefault {
		t.Errorf("concurrency, prefetch, drain = %d, %d, %s", c.Concurrency, c.Prefetch, c.DrainTimeout)
	}
	if c.PrefetchBytes != PrefetchBytesDefault || c.DBLockTimeout != DBLockTimeoutDefault ||
		c.DBWriteTimeout != DBWriteTimeoutDefault || c.ProbeInterval != ProbeIntervalDefault {
		t.Errorf("prefetch bytes, lock, write, probe = %d, %s, %s, %s", c.PrefetchBytes, c.DBLockTimeout, c.DBWriteTimeout, c.ProbeInterval)
	}
	if c.MusicBrainzRate != 1 || c.DiscogsRate != 0.9 || c.SpotifyRate != 5 {
		t.Errorf("rates = %v %v %v", c.SpotifyRate, c.MusicBrainzRate, c.DiscogsRate)
	}
}

func TestLoadWorkerErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"WORKER_CONCURRENCY": "lots"}, "WORKER_CONCURRENCY"},
		{map[string]string{"WORKER_CONCURRENCY": "0"}, "WORKER_CONCURRENCY"},
		{map[string]string{"PREFETCH_COUNT": "4"}, "PREFETCH_COUNT"},
		{map[string]string{"RETRY_DELAYS": "2s,soon"}, "RETRY_DELAYS"},
		{map[string]string{"RETRY_DELAYS": "2s,2s"}, "RETRY_DELAYS"},
		{map[string]string{"RETRY_DELAYS": "-1s"}, "RETRY_DELAYS"},
		{map[string]string{"AMQP_URL": "http://x"}, "AMQP_URL"},
		{map[string]string{"DATABASE_URL": "mysql://x"}, "DATABASE_URL"},
		{map[string]string{"REDIS_URL": "::"}, "REDIS_URL"},
		{map[string]string{"METRICS_ADDR": "9464"}, "METRICS_ADDR"},
		{map[string]string{"MUSICBRAINZ_RATE": "fast"}, "MUSICBRAINZ_RATE"},
		{map[string]string{"DISCOGS_RATE": "0"}, "DISCOGS_RATE"},
		{map[string]string{"MUSICBRAINZ_USER_AGENT": "curl"}, "MUSICBRAINZ_USER_AGENT"},
		{map[string]string{"SPOTIFY_CLIENT_ID": "id"}, "SPOTIFY_CLIENT_SECRET"},
		{map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
		{map[string]string{"WORKER_DRAIN_TIMEOUT": "1ms"}, "WORKER_DRAIN_TIMEOUT"},
		{map[string]string{"QUEUE_DELIVERY_LIMIT": "0"}, "QUEUE_DELIVERY_LIMIT"},
		{map[string]string{"TASK_TIMEOUT": "15s"}, "TASK_TIMEOUT"},              // under twice PROVIDER_TIMEOUT (10s)
		{map[string]string{"DELIVERY_MAX_HOLD": "30s"}, "DELIVERY_MAX_HOLD"},    // under TASK_TIMEOUT
		{map[string]string{"DELIVERY_MAX_HOLD": "28m30s"}, "DELIVERY_MAX_HOLD"}, // with TASK_TIMEOUT past the consumer timeout
		{map[string]string{"PREFETCH_BYTES": "1000"}, "PREFETCH_BYTES"},
		{map[string]string{"PREFETCH_BYTES": "8MiB"}, "PREFETCH_BYTES"},
		{map[string]string{"DB_LOCK_TIMEOUT": "1m"}, "DB_LOCK_TIMEOUT"},
		{map[string]string{"DB_WRITE_TIMEOUT": "1ms"}, "DB_WRITE_TIMEOUT"},
		{map[string]string{"OUTAGE_PROBE_INTERVAL": "0s"}, "OUTAGE_PROBE_INTERVAL"},
	}
	for _, tt := range tests {
		_, err := LoadWorker(tt.env)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("LoadWorker(%v) error = %v, want one naming %s", tt.env, err, tt.want)
		}
	}
}

func TestParseRetryDelays(t *testing.T) {
	tests := []struct {
		in        string
		wantNames string
		wantFirst time.Duration
		wantErr   bool
	}{
		{"2s,4s,8s", "2s,4s,8s", 2 * time.Second, false},
		{" 500ms , 1m ", "500ms,1m", 500 * time.Millisecond, false},
		{"1m30s", "1m30s", 90 * time.Second, false},
		{"", "", 0, true},
		{"2", "", 0, true},
		{"25h", "", 0, true},
		{"1.5us", "", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseRetryDelays(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseRetryDelays(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && (got.String() != tt.wantNames || got[0].Delay != tt.wantFirst) {
			t.Errorf("ParseRetryDelays(%q) = %q (first %s), want %q (first %s)", tt.in, got, got[0].Delay, tt.wantNames, tt.wantFirst)
		}
	}
}
