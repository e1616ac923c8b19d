package migrate

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/pressly/goose/v3"
)

// State is one migration and whether it is applied.
type State struct {
	Version   int64      `json:"version"`
	Name      string     `json:"name"`
	Applied   bool       `json:"applied"`
	AppliedAt *time.Time `json:"applied_at,omitempty"`
}

// States lists every migration, oldest first.
func (m *Migrator) States(ctx context.Context) ([]State, error) {
	st, err := m.provider.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]State, 0, len(st))
	for _, s := range st {
		ms := State{Version: s.Source.Version, Name: base(s.Source.Path)}
		if s.State == goose.StateApplied {
			at := s.AppliedAt.UTC()
			ms.Applied, ms.AppliedAt = true, &at
		}
		out = append(out, ms)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// DownPlan lists, newest first, the applied migrations Down(ctx, to) would
// roll back, without changing anything.
func (m *Migrator) DownPlan(ctx context.Context, to int64) ([]State, error) {
	st, err := m.States(ctx)
	if err != nil {
		return nil, err
	}
	var out []State
	for i := len(st) - 1; i >= 0; i-- {
		s := st[i]
		if !s.Applied {
			continue
		}
		if to < 0 {
			return []State{s}, nil
		}
		if s.Version > to {
			out = append(out, s)
		}
	}
	return out, nil
}
