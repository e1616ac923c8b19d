package peers

import (
	"context"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// runCeiling consumes and acks, one ack per message, prefetch 300: what the
// broker can deliver when the consumer does no work.
func runCeiling(ctx context.Context, c Config, p *progress, ready func()) error {
	prefetch := c.Prefetch
	if prefetch == 0 {
		prefetch = 300
	}
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
	ds, err := ch.Consume(Queue, "ceiling", false, false, false, false, nil)
	if err != nil {
		return err
	}
	ready()
	for {
		select {
		case <-ctx.Done():
			return nil
		case d, ok := <-ds:
			if !ok {
				return fmt.Errorf("deliveries closed")
			}
			if err := d.Ack(false); err != nil {
				return err
			}
			p.add(1)
		}
	}
}
