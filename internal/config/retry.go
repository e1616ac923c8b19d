package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// RetryDelay is one retry tier: the delay as written in RETRY_DELAYS (it
// names the tier's queue) and its value.
type RetryDelay struct {
	Name  string
	Delay time.Duration
}

// RetryDelays is the parsed RETRY_DELAYS list, in the order given.
type RetryDelays []RetryDelay

var tierNameRE = regexp.MustCompile(`^[0-9.]+(ns|us|µs|ms|s|m|h)([0-9.]+(ns|us|µs|ms|s|m|h))*$`)

// ParseRetryDelays parses a comma-separated list of Go durations such as
// "2s,4s,8s" or "500ms,1m". Each must be positive, at most 24h, and unique.
func ParseRetryDelays(s string) (RetryDelays, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("empty list")
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxRetryTiers {
		return nil, fmt.Errorf("at most %d tiers, got %d", maxRetryTiers, len(parts))
	}
	out := make(RetryDelays, 0, len(parts))
	seen := make(map[string]bool, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if !tierNameRE.MatchString(p) {
			return nil, fmt.Errorf("%q is not a Go duration such as 500ms, 2s or 1m", p)
		}
		d, err := time.ParseDuration(p)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", p, err)
		}
		if d <= 0 || d > maxRetryDelay {
			return nil, fmt.Errorf("%q must be in (0, %s]", p, maxRetryDelay)
		}
		if d%time.Millisecond != 0 {
			return nil, fmt.Errorf("%q must be a whole number of milliseconds", p)
		}
		if seen[p] {
			return nil, fmt.Errorf("%q appears twice", p)
		}
		seen[p] = true
		out = append(out, RetryDelay{Name: p, Delay: d})
	}
	return out, nil
}

// UnmarshalText implements encoding.TextUnmarshaler for env parsing.
func (r *RetryDelays) UnmarshalText(b []byte) error {
	v, err := ParseRetryDelays(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// String renders the list as RETRY_DELAYS would be written.
func (r RetryDelays) String() string {
	names := make([]string, len(r))
	for i, d := range r {
		names[i] = d.Name
	}
	return strings.Join(names, ",")
}
