package app

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/parley-dev/parley/ai"
	"github.com/parley-dev/parley/ai/queue"
	"github.com/parley-dev/parley/netguard"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/stream"
	"github.com/parley-dev/parley/web"
)

// Config is the server's configuration as plain values. Each field mirrors
// the PARLEY_ variable of the same name (main maps its environment onto
// it; see `parley help` for the meanings). Tests fill only what they need:
// a zero field means the part's own default unless said otherwise.
type Config struct {
	DB       string // path of the SQLite database file, or a postgres:// URL (PARLEY_DATABASE_URL)
	Schema   string // schema.sql; main embeds it, tests read it (storetest.Schema)
	DBMmapMB int
	DBSync   string // "normal" syncs less; anything else is "full"
	WALMaxMB int

	// BackupDir, when set, receives a backup every BackupInterval, of
	// which the newest BackupKeep are kept (both must then be positive).
	BackupDir      string
	BackupInterval time.Duration
	BackupKeep     int

	MaxBodyBytes          int64
	RateLimitPerMinute    int
	AuthFailuresPerMinute int
	TrustedProxies        []*net.IPNet
	BodyTimeout           time.Duration

	EventRetention      time.Duration
	SSEHeartbeat        time.Duration
	MaxStreams          int
	MaxStreamsPerTenant int

	AIProvider            string // "openai", or else the builtin provider
	OpenAIBaseURL         string
	OpenAIAPIKey          string
	OpenAIModel           string
	OpenAITranscribeModel string
	OpenAITimeout         time.Duration
	AIConcurrency         int // ai.DefaultConcurrency when 0
	BuiltinRules          string
	BuiltinReply          string
	BuiltinDelay          time.Duration
	BuiltinTokenDelay     time.Duration

	MaxMediaBytes        int64
	MediaTimeout         time.Duration
	MediaMemoryMB        int // 0: no cap
	MaxPDFPages          int
	MaxPDFChars          int
	AllowPrivateNetworks bool

	DeliveryTimeout time.Duration
	// DeliveryRetrySchedule is as PARLEY_DELIVERY_RETRY_SCHEDULE: "" means
	// no retries.
	DeliveryRetrySchedule string
	DeliveryConcurrency   int
	// DeliveryRetention is the age past which housekeeping deletes
	// delivered postbacks and webhooks.
	DeliveryRetention time.Duration

	Logger *slog.Logger // slog.Default() when nil
}

// Options are what main and the tests add to a Config; the zero value is
// the configuration alone. They are the test hooks that used to live as
// nil fallbacks in production code.
type Options struct {
	// Bootstrap, when set, runs on the opened store before anything is
	// wired to it (main: the first tenant and its key, so that it exists
	// even when the rest of the configuration is then refused).
	Bootstrap func(context.Context, *store.Store) error

	// Provider answers instead of the one Config names.
	Provider ai.Provider
	// Stream, when set, replaces the broker options built from Config
	// (its Logger defaults to Config.Logger).
	Stream *stream.Options
	// DeliverySchedule, when not nil, replaces DeliveryRetrySchedule.
	DeliverySchedule []time.Duration
	// AIQueue admits provider calls instead of a queue of AIConcurrency slots.
	AIQueue *queue.Queue
	// BatchRetryDelay is the pipeline's wait before a failed batch is
	// tried again (ai.DefaultBatchRetryDelay when zero).
	BatchRetryDelay time.Duration
	// MediaMemory caps fetched media held in memory instead of MediaMemoryMB.
	MediaMemory *netguard.Budget
	// Web makes last changes to the HTTP layer's configuration (its
	// limits, its clock).
	Web func(*web.Config)
}
