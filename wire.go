package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/parley-dev/parley/app"
	"github.com/parley-dev/parley/store"
)

// appConfig maps the environment's configuration onto app's plain one; the
// wiring itself is package app's.
func appConfig(cfg Config, log *slog.Logger) app.Config {
	trusted, _ := cfg.trustedNets() // checked by loadConfig
	return app.Config{
		DB: cfg.database(), Schema: schemaSQL, DBMmapMB: cfg.DBMmapMB, DBSync: cfg.DBSync, WALMaxMB: cfg.WALMaxMB,
		BackupDir: cfg.BackupDir, BackupInterval: cfg.BackupInterval, BackupKeep: cfg.BackupKeep,

		MaxBodyBytes: cfg.MaxBodyBytes, RateLimitPerMinute: cfg.RateLimitPerMinute,
		AuthFailuresPerMinute: cfg.AuthFailuresPerMinute, TrustedProxies: trusted, BodyTimeout: cfg.BodyTimeout,

		EventRetention: cfg.EventRetention, SSEHeartbeat: cfg.SSEHeartbeat, MaxStreams: cfg.MaxStreams,
		MaxStreamsPerTenant: cfg.MaxStreamsPerTenant,

		AIProvider: cfg.AIProvider, OpenAIBaseURL: cfg.OpenAIBaseURL, OpenAIAPIKey: cfg.OpenAIAPIKey,
		OpenAIModel: cfg.OpenAIModel, OpenAITranscribeModel: cfg.OpenAITranscribeModel, OpenAITimeout: cfg.OpenAITimeout,
		AIConcurrency: cfg.AIConcurrency, BuiltinRules: cfg.BuiltinRules, BuiltinReply: cfg.BuiltinReply,
		BuiltinDelay: cfg.BuiltinDelay, BuiltinTokenDelay: cfg.BuiltinTokenDelay,

		MaxMediaBytes: cfg.MaxMediaBytes, MediaTimeout: cfg.MediaTimeout, MediaMemoryMB: cfg.MediaMemoryMB,
		MaxPDFPages: cfg.MaxPDFPages, MaxPDFChars: cfg.MaxPDFChars, AllowPrivateNetworks: cfg.AllowPrivateNetworks,

		DeliveryTimeout: cfg.DeliveryTimeout, DeliveryRetrySchedule: cfg.DeliveryRetrySchedule,
		DeliveryConcurrency: cfg.DeliveryConcurrency, DeliveryRetention: cfg.DeliveryRetention,

		Logger: log,
	}
}

// openStore opens the database for a CLI command: no metrics, no logger.
func openStore(ctx context.Context, cfg Config) (*store.Store, error) {
	return app.OpenStore(ctx, appConfig(cfg, nil), store.Options{})
}

// newApp wires the server for serve; the first tenant is made (or the
// bootstrap key registered) before anything else can refuse to start.
func newApp(ctx context.Context, cfg Config, log *slog.Logger, stderr io.Writer) (*app.App, error) {
	return app.New(ctx, appConfig(cfg, log), app.Options{Bootstrap: func(ctx context.Context, st *store.Store) error {
		return bootstrap(ctx, st, cfg.BootstrapAPIKey, stderr)
	}})
}

// lockServer makes sure one server at a time runs on the database: a lock
// file beside a SQLite database, a session advisory lock on PostgreSQL
// (where several nodes will share one database once they coordinate
// through it; until then a second node would fire batches and send
// postbacks twice).
func lockServer(ctx context.Context, cfg Config) (release func(), err error) {
	if cfg.DatabaseURL == "" {
		return lockDatabase(cfg.DB)
	}
	release, err = store.LockPostgresServer(ctx, cfg.DatabaseURL)
	if errors.Is(err, store.ErrServerRunning) {
		return nil, fmt.Errorf("%s: %w; run one server per database for now", cfg.databaseName(), err)
	}
	return release, err
}
