// Package app is the one place Parley's parts are wired together: the
// store, the stream broker, the turn pipeline, the debounce scheduler, the
// delivery worker, the housekeeping and backup loops, the metrics and the
// HTTP handler. `parley serve` runs it, the web and ui tests run it
// in-process, and the load tool runs the binary built from it, so what the
// tests exercise is what ships, and a second store engine has one place to
// be chosen in. Test hooks live here (Options), not in the parts.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/parley-dev/parley/ai"
	"github.com/parley-dev/parley/ai/queue"
	"github.com/parley-dev/parley/debounce"
	"github.com/parley-dev/parley/delivery"
	"github.com/parley-dev/parley/metrics"
	"github.com/parley-dev/parley/netguard"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/stream"
	"github.com/parley-dev/parley/web"
)

// App is a wired server: New builds it, Start runs its background work,
// Close stops it and closes the store. HTTP serving stays with the caller
// (main's http.Server, httptest in tests), which registers OnShutdown.
type App struct {
	Store    *store.Store
	Broker   *stream.Broker
	Pipeline *ai.Pipeline
	Metrics  *metrics.Metrics
	Handler  *echo.Echo // every route, the metrics scrape included

	cfg    Config
	log    *slog.Logger
	sched  *debounce.Scheduler
	worker *delivery.Worker
	cancel context.CancelFunc // ends the background loops; set by Start
	wg     sync.WaitGroup
	close  sync.Once
}

// OpenStore opens the database cfg names with o's hooks added (the CLI
// commands open it this way too, without hooks).
func OpenStore(ctx context.Context, cfg Config, o store.Options) (*store.Store, error) {
	o.ReadMap = int64(cfg.DBMmapMB) << 20
	o.WALMax = int64(cfg.WALMaxMB) << 20
	if cfg.DBSync == "normal" {
		o.Sync = store.SyncNormal
	}
	return store.Open(ctx, cfg.DB, cfg.Schema, o)
}

// New opens the store, runs o.Bootstrap on it and wires every part to it.
// Nothing runs in the background until Start.
func New(ctx context.Context, cfg Config, o Options) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &App{cfg: cfg, log: cfg.Logger, Metrics: metrics.New()}
	m := a.Metrics
	st, err := OpenStore(ctx, cfg, store.Options{WriteWait: m.WriteWait, CheckpointPause: m.CheckpointPause,
		WALSync: m.WALSync, Logger: a.log})
	if err != nil {
		return nil, err
	}
	a.Store = st
	if o.Bootstrap != nil {
		err = o.Bootstrap(ctx, st)
	}
	if err == nil {
		err = a.wire(o)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	return a, nil
}

// wire builds the parts over a.Store and connects the store's hooks to them.
func (a *App) wire(o Options) error {
	cfg, st, m := a.cfg, a.Store, a.Metrics
	provider := o.Provider
	if provider == nil {
		p, err := buildProvider(cfg)
		if err != nil {
			return err
		}
		provider = p
	}
	provider = metrics.Provider{Provider: provider, M: m}
	so := stream.Options{Heartbeat: cfg.SSEHeartbeat, MaxStreams: cfg.MaxStreams,
		MaxStreamsPerTenant: cfg.MaxStreamsPerTenant, Retention: cfg.EventRetention}
	if o.Stream != nil {
		so = *o.Stream
	}
	if so.Logger == nil {
		so.Logger = a.log
	}
	a.Broker = stream.New(st, so)
	st.OnEvents(func(evs []store.Event) {
		m.EventsPublished(len(evs))
		a.Broker.Publish(evs)
	})

	aiQueue := o.AIQueue
	if aiQueue == nil {
		aiQueue = queue.New(orDefault(cfg.AIConcurrency, ai.DefaultConcurrency))
		aiQueue.OnGrant = m.AIQueueWait
	}
	a.Pipeline = ai.NewPipeline(st, provider, a.Broker, a.fetcher(o.MediaMemory), ai.PipelineConfig{MaxPDFPages: cfg.MaxPDFPages,
		MaxPDFChars: cfg.MaxPDFChars, Logger: a.log, Queue: aiQueue, BatchRetryDelay: o.BatchRetryDelay})
	a.sched = debounce.New(nil, a.Pipeline.Fire)
	a.sched.OnFire = m.DebounceFired

	schedule := o.DeliverySchedule
	if schedule == nil {
		var err error
		if schedule, err = delivery.ParseSchedule(cfg.DeliveryRetrySchedule); err != nil {
			return fmt.Errorf("config: PARLEY_DELIVERY_RETRY_SCHEDULE: %w", err)
		}
	}
	a.worker = delivery.New(st, delivery.Options{AllowPrivate: cfg.AllowPrivateNetworks, Timeout: cfg.DeliveryTimeout,
		Schedule: schedule, Concurrency: cfg.DeliveryConcurrency, Logger: a.log, OnAttempt: m.DeliveryAttempt,
		OnQueued: m.DeliveryQueued})
	st.OnOutbox(a.worker.Notify)
	a.watch(aiQueue)

	wc := web.Config{MaxBodyBytes: cfg.MaxBodyBytes, RateLimitPerMinute: cfg.RateLimitPerMinute, Logger: a.log,
		AuthFailuresPerMinute: cfg.AuthFailuresPerMinute, TrustedProxies: cfg.TrustedProxies, BodyTimeout: cfg.BodyTimeout,
		AllowPrivateNetworks: cfg.AllowPrivateNetworks, Broker: a.Broker, Pipeline: a.Pipeline,
		Metrics: m, MetricsHandler: m.Handler()}
	if o.Web != nil {
		o.Web(&wc)
	}
	a.Handler = web.New(wc, st)
	return nil
}

// orDefault is v, or def when v is not positive.
func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
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

// fetcher reads media through the SSRF guard, within the memory budget.
func (a *App) fetcher(budget *netguard.Budget) ai.Fetcher {
	cfg := a.cfg
	client := netguard.NewClient(netguard.Options{AllowPrivate: cfg.AllowPrivateNetworks, Timeout: cfg.MediaTimeout})
	if budget == nil {
		budget = netguard.NewBudget(int64(cfg.MediaMemoryMB) << 20)
	}
	return func(ctx context.Context, url string) ([]byte, string, func(), error) {
		return netguard.FetchHeld(ctx, client, url, cfg.MaxMediaBytes, budget)
	}
}

// watch hands the metrics the gauges they read at scrape time.
func (a *App) watch(aiQueue *queue.Queue) {
	m, st := a.Metrics, a.Store
	m.Watch(metrics.Gauges{Subscribers: a.Broker.Subscribers, Evictions: a.Broker.Evictions,
		BatchesPending: a.sched.Len, OutboxDepth: st.OutboxDepth, AIQueueDepth: aiQueue.Depth, AIInFlight: aiQueue.InFlight})
	m.WatchDeliveries(metrics.DeliveryWatch{InFlight: a.worker.InFlight, OldestPending: st.OldestPendingDelivery})
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
}

// Start fires the debounce scheduler, re-arms the batches pending in the
// store, and starts the delivery worker, the broker's pruner and
// reauthorizer, housekeeping and (with BackupDir) scheduled backups. The
// loops outlive ctx's cancellation: Close ends them.
func (a *App) Start(ctx context.Context) error {
	a.sched.Start()
	if err := a.Pipeline.StartDebounce(ctx, a.sched); err != nil {
		a.sched.Close()
		return err
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	a.wg.Add(4)
	go func() { defer a.wg.Done(); a.worker.Run(bg) }()
	go func() { defer a.wg.Done(); a.Broker.RunPruner(bg) }()
	go func() { defer a.wg.Done(); a.Broker.RunReauthorizer(bg) }()
	go func() {
		defer a.wg.Done()
		every(bg, housekeepingEvery, func() { housekeeping(bg, a.Store, a.cfg.DeliveryRetention, a.log) })
	}()
	if a.cfg.BackupDir != "" && store.IsPostgresURL(a.cfg.DB) {
		a.log.Warn("PARLEY_BACKUP_DIR is ignored on PostgreSQL: back it up with pg_dump")
	} else if a.cfg.BackupDir != "" {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			every(bg, a.cfg.BackupInterval, func() { scheduledBackup(bg, a.cfg, a.log, a.Metrics.BackupTaken) })
		}()
	}
	return nil
}

// OnShutdown ends the open SSE streams; register it with
// http.Server.RegisterOnShutdown, since Shutdown waits for idle connections
// and a stream never is one.
func (a *App) OnShutdown() { a.Broker.Shutdown(context.Background()) }

// Close stops the background work, then closes the store. Pending batches
// and deliveries stay in the store and resume at the next start. Call it
// after the HTTP server has stopped; later calls do nothing.
func (a *App) Close() {
	a.close.Do(func() {
		a.sched.Close()
		a.Pipeline.StopDebounce()
		if a.cancel != nil {
			a.cancel()
		}
		a.wg.Wait()
		a.Store.Close()
	})
}
