package store

import "context"

// SetWhileLocked installs a hook that runs while r holds the coverage lock,
// just before it refreshes (tests only).
func SetWhileLocked(r *CoverageRefresher, f func(context.Context)) { r.whileLocked = f }
