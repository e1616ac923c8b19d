package worker

import (
	"context"
	"errors"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"

	"github.com/djmeta/enrichment/internal/metrics"
	"github.com/djmeta/enrichment/internal/provider"
)

// While half-open, callers other than the probe poll for its verdict every
// halfOpenPoll, at most halfOpenWaits times.
const (
	halfOpenPoll  = 50 * time.Millisecond
	halfOpenWaits = 100
)

// newGuard returns a circuit breaker (sony/gobreaker) for one provider as an
// enrich.Source guard. failures consecutive failed operations open it; while
// open, calls fail at once (the provider "could not be asked" and tasks end
// partial without waiting for timeouts); after openFor one probe is let
// through (half-open). Only outages count as failures: not-found answers,
// throttling (paced by the rate limiter instead), bad requests and spent
// budgets do not.
func newGuard(name string, failures int, openFor time.Duration, pm *metrics.Providers, log *zap.Logger) func(ctx context.Context, call func(ctx context.Context) error) error {
	gauge := pm.CircuitState.WithLabelValues(name)
	gauge.Set(0)
	cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1,
		Timeout:     openFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(failures) },
		IsSuccessful: func(err error) bool {
			if err == nil {
				return true
			}
			switch provider.KindOf(err) {
			case provider.KindUnavailable, provider.KindBadResponse, provider.KindUnknown:
				return errors.Is(err, context.Canceled)
			}
			return true
		},
		OnStateChange: func(_ string, from, to gobreaker.State) {
			switch to {
			case gobreaker.StateClosed:
				gauge.Set(0)
			case gobreaker.StateHalfOpen:
				gauge.Set(1)
			case gobreaker.StateOpen:
				gauge.Set(2)
			}
			log.Warn("circuit breaker changed state", zap.String("provider", name),
				zap.String("from", from.String()), zap.String("to", to.String()))
		},
	})
	return func(ctx context.Context, call func(ctx context.Context) error) error {
		_, err := cb.Execute(func() (struct{}, error) { return struct{}{}, call(ctx) })
		// Half-open lets one probe through; calls arriving meanwhile wait
		// for its verdict (briefly) instead of failing as if still open.
		for wait := 0; errors.Is(err, gobreaker.ErrTooManyRequests) && wait < halfOpenWaits; wait++ {
			t := time.NewTimer(halfOpenPoll)
			select {
			case <-ctx.Done():
				t.Stop()
				return &provider.Error{Provider: name, Kind: provider.KindUnavailable, Err: ctx.Err()}
			case <-t.C:
			}
			if cb.State() == gobreaker.StateHalfOpen {
				continue
			}
			_, err = cb.Execute(func() (struct{}, error) { return struct{}{}, call(ctx) })
		}
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			return &provider.Error{Provider: name, Kind: provider.KindUnavailable, Err: err}
		}
		return err
	}
}
