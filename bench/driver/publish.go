package driver

import (
	"context"
	"fmt"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// confirmWindow is how many publishes may await their confirm.
const confirmWindow = 512

// Published says when each message went out.
type Published struct {
	Start     time.Time   // first publish
	Sent      []time.Time // per message
	Confirmed time.Time   // last confirm
	Nacked    int
}

// PublishRate is the publisher's own rate (messages over first publish to
// last confirm).
func (p Published) PublishRate() float64 {
	return float64(len(p.Sent)) / p.Confirmed.Sub(p.Start).Seconds()
}

// publish sends bodies as persistent JSON tasks to the work exchange the
// way publishers do (enrichctl publish, the scrapers), with confirms and a
// window of 512; rate > 0 paces them evenly at rate per second.
func publish(ctx context.Context, amqpURL string, bodies [][]byte, rate float64) (Published, error) {
	var res Published
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return res, err
	}
	if err := ch.Confirm(false); err != nil {
		return res, err
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, confirmWindow))
	sem := make(chan struct{}, confirmWindow)
	done := make(chan struct{})
	n := len(bodies)
	go func() {
		got := 0
		for c := range confirms {
			if !c.Ack {
				res.Nacked++
			}
			<-sem
			if got++; got == n {
				res.Confirmed = time.Now()
				close(done)
				return
			}
		}
	}()
	res.Sent = make([]time.Time, n)
	res.Start = time.Now()
	for i, b := range bodies {
		if rate > 0 {
			due := res.Start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return res, ctx.Err()
		}
		res.Sent[i] = time.Now()
		err := ch.PublishWithContext(ctx, "metadata_enrichment", "enrich", false, false, amqp.Publishing{
			ContentType:  "application/json",
			DeliveryMode: amqp.Persistent,
			// watermill-amqp's DefaultMarshaler expects its message UUID
			// header; every scenario gets the same messages.
			Headers: amqp.Table{"_watermill_message_uuid": strconv.Itoa(i)},
			Body:    b,
		})
		if err != nil {
			return res, fmt.Errorf("publish %d: %w", i, err)
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(5 * time.Minute):
		return res, fmt.Errorf("confirms did not arrive")
	}
	if res.Nacked > 0 {
		return res, fmt.Errorf("%d publishes nacked", res.Nacked)
	}
	return res, nil
}
