package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/parley-dev/parley/ai"
	"github.com/parley-dev/parley/ai/queue"
	"github.com/parley-dev/parley/debounce"
	"github.com/parley-dev/parley/delivery"
	"github.com/parley-dev/parley/metrics"
	"github.com/parley-dev/parley/netguard"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/stream"
)

// housekeepingEvery is how often expired idempotency keys and old
// deliveries are deleted and free pages returned. Idempotency keys' 24 h
// validity is checked on read, so this only bounds the tables' size; each
// pass deletes in short batches (store/retention.go).
const housekeepingEvery = 10 * time.Minute

// parts are the running pieces of a server besides HTTP.
type parts struct {
	broker   *stream.Broker
	pipeline *ai.Pipeline
	sched    *debounce.Scheduler
	worker   *delivery.Worker
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// buildProvider picks the AI provider named by the configuration.
func buildProvider(cfg Config) (ai.Provider, error) {
	if cfg.AIProvider == "openai" {
		return ai.NewOpenAI(ai.OpenAIConfig{BaseURL: cfg.OpenAIBaseURL, APIKey: cfg.OpenAIAPIKey, Model: cfg.OpenAIModel,
			TranscribeModel: cfg.OpenAITranscribeModel, Timeout: cfg.OpenAITimeout}), nil
	}
	p, err := ai.NewBuiltin(ai.BuiltinConfig{RulesFile: cfg.BuiltinRules, Reply: cfg.BuiltinReply, Delay: cfg.BuiltinDelay,
		TokenDelay: cfg.BuiltinTokenDelay})
	if err != nil {
		return nil, fmt.Errorf("config: PARLEY_BUILTIN_RULES: %w", err)
	}
	return p, nil
}

// start wires the broker, the pipeline, the debounce scheduler and the
// background jobs to the store, and starts them.
func start(ctx context.Context, cfg Config, st *store.Store, log *slog.Logger, m *metrics.Metrics) (*parts, error) {
	provider, err := buildProvider(cfg)
	if err != nil {
		return nil, err
	}
	provider = metrics.Provider{Provider: provider, M: m}
	p := &parts{}
	p.broker = stream.New(st, stream.Options{Heartbeat: cfg.SSEHeartbeat, MaxStreams: cfg.MaxStreams,
		MaxStreamsPerTenant: cfg.MaxStreamsPerTenant, Retention: cfg.EventRetention, Logger: log})
	st.OnEvents(func(evs []store.Event) {
		m.EventsPublished(len(evs))
		p.broker.Publish(evs)
	})

	media := netguard.NewClient(netguard.Options{AllowPrivate: cfg.AllowPrivateNetworks, Timeout: cfg.MediaTimeout})
	mediaMemory := netguard.NewBudget(int64(cfg.MediaMemoryMB) << 20)
	fetch := func(ctx context.Context, url string) ([]byte, string, func(), error) {
		return netguard.FetchHeld(ctx, media, url, cfg.MaxMediaBytes, mediaMemory)
	}
	aiQueue := queue.New(cfg.AIConcurrency)
	aiQueue.OnGrant = m.AIQueueWait
	p.pipeline = ai.NewPipeline(st, provider, p.broker, fetch, ai.PipelineConfig{MaxPDFPages: cfg.MaxPDFPages,
		MaxPDFChars: cfg.MaxPDFChars, Logger: log, Queue: aiQueue})
	p.sched = debounce.New(nil, p.pipeline.Fire)
	p.sched.OnFire = m.DebounceFired
	p.sched.Start()
	if err := p.pipeline.StartDebounce(ctx, p.sched); err != nil {
		p.sched.Close()
		return nil, err
	}

	schedule, err := delivery.ParseSchedule(cfg.DeliveryRetrySchedule)
	if err != nil {
		p.sched.Close()
		return nil, fmt.Errorf("config: PARLEY_DELIVERY_RETRY_SCHEDULE: %w", err)
	}
	p.worker = delivery.New(st, delivery.Options{AllowPrivate: cfg.AllowPrivateNetworks, Timeout: cfg.DeliveryTimeout,
		Schedule: schedule, Concurrency: cfg.DeliveryConcurrency, Logger: log, OnAttempt: m.DeliveryAttempt,
		OnQueued: m.DeliveryQueued})
	st.OnOutbox(p.worker.Notify)
	m.Watch(metrics.Gauges{Subscribers: p.broker.Subscribers, Evictions: p.broker.Evictions,
		BatchesPending: p.sched.Len, OutboxDepth: st.OutboxDepth, AIQueueDepth: aiQueue.Depth, AIInFlight: aiQueue.InFlight})
	m.WatchDeliveries(metrics.DeliveryWatch{InFlight: p.worker.InFlight, OldestPending: st.OldestPendingDelivery})
	m.WatchStore(metrics.StoreGauges{
		WAL: func() (int64, map[string]int64, int64, time.Duration) {
			w := st.WALStats()
			return w.Bytes, map[string]int64{"complete": w.Complete, "partial": w.Partial, "busy": w.Busy}, w.Syncs, w.LongestPause
		},
		File: func(ctx context.Context) (int64, int64, error) {
			f, err := st.FileStats(ctx)
			return f.Bytes, f.FreelistPages, err
		},
	})

	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	p.wg.Add(4)
	go func() { defer p.wg.Done(); p.worker.Run(bg) }()
	go func() { defer p.wg.Done(); p.broker.RunPruner(bg) }()
	go func() { defer p.wg.Done(); p.broker.RunReauthorizer(bg) }()
	go func() { defer p.wg.Done(); housekeeping(bg, st, cfg.DeliveryRetention, log) }()
	if cfg.BackupDir != "" {
		p.wg.Add(1)
		go func() { defer p.wg.Done(); scheduleBackups(bg, cfg, log, m.BackupTaken) }()
	}
	return p, nil
}

// stop ends the background work; pending batches and deliveries stay in the
// store and resume at the next start.
func (p *parts) stop() {
	p.sched.Close()
	p.pipeline.StopDebounce()
	p.cancel()
	p.wg.Wait()
}

// housekeeping deletes what is kept only for a while and hands a large
// surplus of free pages back to the file system.
func housekeeping(ctx context.Context, st *store.Store, deliveryRetention time.Duration, log *slog.Logger) {
	t := time.NewTicker(housekeepingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := st.PruneIdempotency(ctx); err != nil && ctx.Err() == nil {
			log.Warn("prune idempotency keys", "err", err)
		}
		if _, err := st.PruneDeliveries(ctx, st.Now().Add(-deliveryRetention)); err != nil && ctx.Err() == nil {
			log.Warn("prune delivered deliveries", "err", err)
		}
		if n, err := st.ReturnFreePages(ctx); err != nil && ctx.Err() == nil {
			log.Warn("return free pages", "err", err)
		} else if n > 0 {
			log.Info("database file shrunk", "pages", n)
		}
	}
}
