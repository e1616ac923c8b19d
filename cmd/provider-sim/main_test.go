package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, o options)
		wantErr string
	}{
		{
			name: "defaults",
			check: func(t *testing.T, o options) {
				if o.addr != ":8090" || o.catalog != "testdata/catalog/catalog.json" || o.cfg.SpotifyProfile != "dev" ||
					o.cfg.MusicBrainzRate != 1 || o.cfg.DiscogsRateLimit != 60 || o.cfg.SpotifyRateWindow != 30*time.Second {
					t.Errorf("defaults = %+v", o)
				}
			},
		},
		{
			name: "env then flags",
			args: []string{"-addr", ":9999", "-latency", "80ms"},
			env:  map[string]string{"SIM_ADDR": ":7000", "SIM_LATENCY": "5ms", "SIM_LATENCY_JITTER": "20ms", "SIM_DISCOGS_TOKENS": "a, b"},
			check: func(t *testing.T, o options) {
				if o.addr != ":9999" || o.cfg.Latency != 80*time.Millisecond || o.cfg.LatencyJitter != 20*time.Millisecond {
					t.Errorf("addr %q latency %v jitter %v", o.addr, o.cfg.Latency, o.cfg.LatencyJitter)
				}
				if strings.Join(o.cfg.DiscogsTokens, "|") != "a|b" {
					t.Errorf("tokens = %q", o.cfg.DiscogsTokens)
				}
			},
		},
		{
			name: "error rates",
			args: []string{"-error-rate", "0.1", "-musicbrainz-error-rate", "0.3"},
			check: func(t *testing.T, o options) {
				if o.cfg.SpotifyErrorRate != 0.1 || o.cfg.DiscogsErrorRate != 0.1 || o.cfg.MusicBrainzErrorRate != 0.3 {
					t.Errorf("rates = %v %v %v", o.cfg.SpotifyErrorRate, o.cfg.MusicBrainzErrorRate, o.cfg.DiscogsErrorRate)
				}
			},
		},
		{name: "bad env names the variable", env: map[string]string{"SIM_MUSICBRAINZ_RATE": "fast"}, wantErr: "SIM_MUSICBRAINZ_RATE"},
		{name: "bad profile", args: []string{"-spotify-profile", "prod"}, wantErr: "spotify profile"},
		{name: "error rate out of range", args: []string{"-error-rate", "2"}, wantErr: "error rate"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, o)
		})
	}
}
