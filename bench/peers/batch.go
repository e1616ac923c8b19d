package peers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/djmeta/enrichment/internal/store"
)

// runBatch is the hand-written amqp091-go consumer a Go team writes once
// the commit rate is the limit: prefetch 300, deliveries collected into
// batches of up to 50 (or 5 ms), each batch one transaction on one of 4
// writers, then every delivery of the batch acked. Writes are sorted by
// track id so that two batches holding the same tracks cannot deadlock.
func runBatch(ctx context.Context, c Config, p *progress, ready func()) error {
	prefetch := c.Prefetch
	if prefetch == 0 {
		prefetch = 300
	}
	st, err := openStore(ctx, c.DBURL, c.Writers)
	if err != nil {
		return err
	}
	defer st.Close()
	conn, err := amqp.Dial(c.AMQPURL)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Qos(prefetch, 0, false); err != nil {
		return err
	}
	ds, err := ch.Consume(Queue, "amqp-batch", false, false, false, false, nil)
	if err != nil {
		return err
	}
	type item struct {
		d amqp.Delivery
		w store.Write
	}
	batches := make(chan []item, c.Writers)
	errc := make(chan error, c.Writers)
	for range c.Writers {
		go func() {
			for b := range batches {
				ws := make([]store.Write, len(b))
				for i, it := range b {
					ws[i] = it.w
				}
				slices.SortFunc(ws, func(a, b store.Write) int { return strings.Compare(a.Task.TrackID, b.Task.TrackID) })
				var err error
				for attempt := 0; attempt < 5; attempt++ {
					if err = st.SaveBatch(context.WithoutCancel(ctx), ws); err == nil {
						break
					}
				}
				if err != nil {
					errc <- err
					return
				}
				for _, it := range b {
					if err := it.d.Ack(false); err != nil {
						errc <- err
						return
					}
				}
				p.add(len(b))
			}
		}()
	}
	defer close(batches)
	ready()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var batch []item
	flush := func() {
		if len(batch) > 0 {
			batches <- batch
			batch = nil
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		case <-timer.C:
			flush()
		case d, ok := <-ds:
			if !ok {
				return errors.New("deliveries closed")
			}
			w, err := write(d.Body)
			if err != nil {
				_ = d.Nack(false, false)
				return fmt.Errorf("decode: %w", err)
			}
			if len(batch) == 0 {
				timer.Reset(c.Wait)
			}
			batch = append(batch, item{d, w})
			if len(batch) >= c.Batch {
				timer.Stop()
				flush()
			}
		}
	}
}
