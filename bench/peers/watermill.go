package peers

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v2/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/djmeta/enrichment/internal/store"
)

// workQueueArgs are queue-init's arguments of the work queue; watermill
// declares the queue it consumes, and a declaration with other arguments
// would fail with 406.
var workQueueArgs = amqp.Table{
	"x-queue-type":           "quorum",
	"x-delivery-limit":       int64(20),
	"x-dead-letter-exchange": "metadata_enrichment_dlx",
	"x-dead-letter-strategy": "at-least-once",
	"x-overflow":             "reject-publish",
}

// runWatermill is the watermill router with watermill-amqp v2's
// NewDurableQueueConfig (prefetch 1, one handler), the middleware of its
// getting-started example (CorrelationID, Retry, Recoverer) and a quiet
// logger. The tuned kind sets prefetch 20 and adds 16 handlers on the same
// topic (each Subscribe opens its own channel).
func runWatermill(ctx context.Context, c Config, p *progress, ready func()) error {
	handlers, prefetch := 1, 1
	if c.Kind == KindWatermillTuned {
		handlers, prefetch = 16, 20
	}
	if c.Handlers > 0 {
		handlers = c.Handlers
	}
	if c.Prefetch > 0 {
		prefetch = c.Prefetch
	}
	st, err := openStore(ctx, c.DBURL, handlers+2)
	if err != nil {
		return err
	}
	defer st.Close()

	logger := watermill.NopLogger{}
	cfg := wamqp.NewDurableQueueConfig(c.AMQPURL)
	cfg.Queue.Arguments = workQueueArgs
	cfg.Consume.Qos.PrefetchCount = prefetch
	sub, err := wamqp.NewSubscriber(cfg, logger)
	if err != nil {
		return err
	}
	defer sub.Close()

	router, err := message.NewRouter(message.RouterConfig{}, logger)
	if err != nil {
		return err
	}
	router.AddMiddleware(
		middleware.CorrelationID,
		middleware.Retry{MaxRetries: 3, InitialInterval: 100 * time.Millisecond, Logger: logger}.Middleware,
		middleware.Recoverer,
	)
	handle := func(msg *message.Message) error {
		w, err := write(msg.Payload)
		if err != nil {
			return nil // a real consumer would dead-letter it; none are invalid here
		}
		if err := st.SaveBatch(msg.Context(), []store.Write{w}); err != nil {
			return err
		}
		p.add(1)
		return nil
	}
	for i := range handlers {
		router.AddConsumerHandler(fmt.Sprintf("enrich-%d", i), Queue, sub, handle)
	}
	errc := make(chan error, 1)
	go func() { errc <- router.Run(ctx) }()
	select {
	case <-router.Running():
		ready()
	case err := <-errc:
		return err
	}
	<-ctx.Done()
	_ = router.Close()
	return <-errc
}
