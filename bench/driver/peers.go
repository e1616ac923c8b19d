package driver

import (
	"context"
	"fmt"
	"time"
)

// PeerRun is one run of a peer (or of the ceiling).
type PeerRun struct {
	Rate        float64
	PublishRate float64
	RSSKiB      float64
}

// runPeer truncates the tables, starts the peer process, publishes the
// tasks and waits for the peer's last commit. With backlog set, the tasks
// are published first and the rate is taken from the peer's start (a
// consume-only figure, from the first commit).
func (s *Servers) runPeer(ctx context.Context, sc *Scenario, kind string, wl *Workload, tasks []Task, tag string, backlog bool, extra ...string) (PeerRun, error) {
	var run PeerRun
	if err := sc.Truncate(ctx); err != nil {
		return run, err
	}
	bodies := wl.Bodies(tasks, tag)
	var pub Published
	var start time.Time
	var pp *peerProc
	var err error
	if backlog {
		if pub, err = publish(ctx, sc.AMQPURL, bodies, 0); err != nil {
			return run, err
		}
		if pp, err = s.startPeer(ctx, sc, kind, len(tasks), extra...); err != nil {
			return run, err
		}
	} else {
		if pp, err = s.startPeer(ctx, sc, kind, len(tasks), extra...); err != nil {
			return run, err
		}
		if pub, err = publish(ctx, sc.AMQPURL, bodies, 0); err != nil {
			_ = pp.Stop(5 * time.Second)
			return run, err
		}
		start = pub.Start
	}
	first, last, rss, err := pp.wait(time.Duration(max(120, len(tasks)/20)) * time.Second)
	if err != nil {
		return run, err
	}
	if backlog {
		start = first
	}
	if !last.After(start) {
		return run, fmt.Errorf("%s: last commit before the start", kind)
	}
	run.Rate = float64(len(tasks)) / last.Sub(start).Seconds()
	run.PublishRate = pub.PublishRate()
	run.RSSKiB = float64(rss)
	return run, nil
}
