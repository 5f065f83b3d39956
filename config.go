package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/parley-dev/parley/store"
)

// Config is the whole server configuration, read from PARLEY_* variables.
// `parley help` prints this table; keep desc tags short and true.
type Config struct {
	Addr                  string        `envconfig:"ADDR" default:":8080" desc:"address to listen on"`
	DB                    string        `envconfig:"DB" default:"parley.db" desc:"path of the SQLite database file"`
	DatabaseURL           string        `envconfig:"DATABASE_URL" desc:"postgres://user:pass@host:5432/db?sslmode=…: run on PostgreSQL instead of PARLEY_DB"`
	DBMmapMB              int           `envconfig:"DB_MMAP_MB" default:"2047" desc:"MB of the database file each reader maps into memory (at most 2047): faster reads, less heap; mapped pages count in RSS; 0 reads with pread"`
	DBSync                string        `envconfig:"DB_SYNC" default:"full" desc:"full: every acknowledged write is on disk (survives power loss); normal: faster, a power cut may lose the last writes"`
	WALMaxMB              int           `envconfig:"WAL_MAX_MB" default:"64" desc:"size in MB past which the write-ahead log is checkpointed and emptied"`
	BackupDir             string        `envconfig:"BACKUP_DIR" desc:"directory for scheduled backups (none when empty)"`
	BackupInterval        time.Duration `envconfig:"BACKUP_INTERVAL" default:"24h" desc:"how often scheduled backups are taken"`
	BackupKeep            int           `envconfig:"BACKUP_KEEP" default:"7" desc:"scheduled backups kept; older ones are removed"`
	BootstrapAPIKey       string        `envconfig:"BOOTSTRAP_API_KEY" desc:"on start, register this API key (for the default tenant) instead of printing a generated one"`
	MaxBodyBytes          int64         `envconfig:"MAX_BODY_BYTES" default:"1048576" desc:"largest accepted request body; larger is 413"`
	RateLimitPerMinute    int           `envconfig:"RATE_LIMIT_PER_MINUTE" default:"100" desc:"requests per minute per API key (token bucket); 0 turns it off"`
	AuthFailuresPerMinute int           `envconfig:"AUTH_FAILURES_PER_MINUTE" default:"30" desc:"requests with a missing or unknown API key allowed per client IP and minute; more is 429; 0 turns it off"`
	TrustedProxies        []string      `envconfig:"TRUSTED_PROXIES" desc:"comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For names the client (none: the client is the connection's peer)"`
	BodyTimeout           time.Duration `envconfig:"BODY_TIMEOUT" default:"30s" desc:"time a client has to send a request body (not SSE streams); slower is 408 and the connection is closed"`

	LogLevel        string        `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogFormat       string        `envconfig:"LOG_FORMAT" default:"text" desc:"text or json"`
	ShutdownTimeout time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"10s" desc:"how long SIGTERM waits for in-flight requests"`
	CPUProfile      string        `envconfig:"CPU_PROFILE" desc:"write a Go CPU profile of the whole run to this file (for benchmarking)"`

	EventRetention      time.Duration `envconfig:"EVENT_RETENTION" default:"24h" desc:"how long stream events are kept for replay (Last-Event-ID)"`
	SSEHeartbeat        time.Duration `envconfig:"SSE_HEARTBEAT" default:"30s" desc:"interval of heartbeat events on open streams"`
	MaxStreams          int           `envconfig:"MAX_STREAMS" default:"10000" desc:"open SSE streams allowed at once; more is 503"`
	MaxStreamsPerTenant int           `envconfig:"MAX_STREAMS_PER_TENANT" default:"1000" desc:"open SSE streams allowed to one tenant; more is 429"`

	AIProvider            string        `envconfig:"AI_PROVIDER" default:"builtin" desc:"builtin (deterministic, offline) or openai (any OpenAI-compatible API)"`
	OpenAIBaseURL         string        `envconfig:"OPENAI_BASE_URL" default:"https://api.openai.com/v1" desc:"OpenAI-compatible base URL (Ollama: http://localhost:11434/v1)"`
	OpenAIAPIKey          string        `envconfig:"OPENAI_API_KEY" desc:"API key for the openai provider (never logged)"`
	OpenAIModel           string        `envconfig:"OPENAI_MODEL" default:"gpt-4o-mini" desc:"chat model when the assistant names none"`
	OpenAITranscribeModel string        `envconfig:"OPENAI_TRANSCRIBE_MODEL" default:"whisper-1" desc:"audio transcription model"`
	OpenAITimeout         time.Duration `envconfig:"OPENAI_TIMEOUT" default:"60s" desc:"timeout of one call to the AI provider (time waiting in PARLEY_AI_CONCURRENCY's line does not count)"`
	AIConcurrency         int           `envconfig:"AI_CONCURRENCY" default:"32" desc:"AI provider calls (chat, streamed, transcription) at once; further turns wait in line, fair between tenants (Ollama: 1-4)"`
	BuiltinRules          string        `envconfig:"BUILTIN_RULES" desc:"JSON rules file for the builtin provider: [{\"match\":\"<regexp>\",\"reply\":\"<text>\"}]"`
	BuiltinReply          string        `envconfig:"BUILTIN_REPLY" default:"You said: {{text}}" desc:"builtin reply when no rule matches; {{text}} is the user's text"`
	BuiltinDelay          time.Duration `envconfig:"BUILTIN_DELAY" default:"0s" desc:"builtin wait before answering"`
	BuiltinTokenDelay     time.Duration `envconfig:"BUILTIN_TOKEN_DELAY" default:"0s" desc:"builtin wait between streamed words"`

	MaxMediaBytes        int64         `envconfig:"MAX_MEDIA_BYTES" default:"16777216" desc:"largest media file fetched for AI processing"`
	MediaTimeout         time.Duration `envconfig:"MEDIA_TIMEOUT" default:"30s" desc:"timeout of one media fetch"`
	MediaMemoryMB        int           `envconfig:"MEDIA_MEMORY_MB" default:"128" desc:"MB of fetched media held in memory at once, all requests together; further fetches wait their turn"`
	MaxPDFPages          int           `envconfig:"MAX_PDF_PAGES" default:"50" desc:"PDF pages read into extracted_text"`
	MaxPDFChars          int           `envconfig:"MAX_PDF_CHARS" default:"20000" desc:"characters of PDF text kept (the rest is marked truncated)"`
	AllowPrivateNetworks bool          `envconfig:"ALLOW_PRIVATE_NETWORKS" default:"false" desc:"let media, postback and webhook URLs reach loopback/private addresses (local tests only)"`

	DeliveryTimeout       time.Duration `envconfig:"DELIVERY_TIMEOUT" default:"30s" desc:"timeout of one postback or webhook attempt"`
	DeliveryRetrySchedule string        `envconfig:"DELIVERY_RETRY_SCHEDULE" default:"1m,5m,30m" desc:"waits between delivery retries; N entries = N retries"`
	DeliveryConcurrency   int           `envconfig:"DELIVERY_CONCURRENCY" default:"16" desc:"postback and webhook requests in flight per destination (scheme, host, port); order still holds per conversation"`
	DeliveryRetention     time.Duration `envconfig:"DELIVERY_RETENTION" default:"168h" desc:"how long delivered postbacks and webhooks stay listed before they are deleted (failed ones stay)"`
}

// loadConfig reads the environment and checks what envconfig cannot.
func loadConfig() (Config, error) {
	var c Config
	if err := envconfig.Process("PARLEY", &c); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	switch {
	case c.MaxBodyBytes <= 0:
		return c, fmt.Errorf("config: PARLEY_MAX_BODY_BYTES must be positive")
	case c.RateLimitPerMinute < 0:
		return c, fmt.Errorf("config: PARLEY_RATE_LIMIT_PER_MINUTE must be 0 or more")
	case c.DBMmapMB < 0:
		return c, fmt.Errorf("config: PARLEY_DB_MMAP_MB must be 0 or more")
	case c.LogFormat != "text" && c.LogFormat != "json":
		return c, fmt.Errorf("config: PARLEY_LOG_FORMAT must be text or json")
	case c.DBSync != "full" && c.DBSync != "normal":
		return c, fmt.Errorf("config: PARLEY_DB_SYNC must be full or normal")
	case c.WALMaxMB <= 0:
		return c, fmt.Errorf("config: PARLEY_WAL_MAX_MB must be positive")
	case c.BackupDir != "" && (c.BackupInterval <= 0 || c.BackupKeep <= 0):
		return c, fmt.Errorf("config: PARLEY_BACKUP_INTERVAL and PARLEY_BACKUP_KEEP must be positive")
	case c.DeliveryRetention <= 0:
		return c, fmt.Errorf("config: PARLEY_DELIVERY_RETENTION must be positive")
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return c, err
	}
	if c.AIProvider != "builtin" && c.AIProvider != "openai" {
		return c, fmt.Errorf("config: PARLEY_AI_PROVIDER must be builtin or openai")
	}
	if c.MaxMediaBytes <= 0 || c.MaxStreams <= 0 || c.EventRetention <= 0 || c.SSEHeartbeat <= 0 {
		return c, fmt.Errorf("config: PARLEY_MAX_MEDIA_BYTES, PARLEY_MAX_STREAMS, PARLEY_EVENT_RETENTION and PARLEY_SSE_HEARTBEAT must be positive")
	}
	if c.AuthFailuresPerMinute < 0 {
		return c, fmt.Errorf("config: PARLEY_AUTH_FAILURES_PER_MINUTE must be 0 or more")
	}
	if c.BodyTimeout <= 0 {
		return c, fmt.Errorf("config: PARLEY_BODY_TIMEOUT must be positive")
	}
	if _, err := c.trustedNets(); err != nil {
		return c, err
	}
	if c.DatabaseURL != "" && !store.IsPostgresURL(c.DatabaseURL) {
		return c, fmt.Errorf("config: PARLEY_DATABASE_URL must be a postgres:// or postgresql:// URL")
	}
	if c.MaxStreamsPerTenant <= 0 {
		return c, fmt.Errorf("config: PARLEY_MAX_STREAMS_PER_TENANT must be positive")
	}
	if c.MediaMemoryMB <= 0 {
		return c, fmt.Errorf("config: PARLEY_MEDIA_MEMORY_MB must be positive")
	}
	if c.AIConcurrency <= 0 {
		return c, fmt.Errorf("config: PARLEY_AI_CONCURRENCY must be positive")
	}
	if c.DeliveryConcurrency <= 0 {
		return c, fmt.Errorf("config: PARLEY_DELIVERY_CONCURRENCY must be positive")
	}
	return c, nil
}

// database is what the store opens: PARLEY_DATABASE_URL when set, else the
// SQLite file PARLEY_DB.
func (c Config) database() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return c.DB
}

// databaseName is database() for logs and messages: a URL without its
// password.
func (c Config) databaseName() string {
	if c.DatabaseURL == "" {
		return c.DB
	}
	u, err := url.Parse(c.DatabaseURL)
	if err != nil {
		return "postgres://…"
	}
	u.User = url.User(u.User.Username())
	u.RawQuery = ""
	return u.Redacted()
}

// trustedNets parses PARLEY_TRUSTED_PROXIES.
func (c Config) trustedNets() ([]*net.IPNet, error) {
	var nets []*net.IPNet
	for _, p := range c.TrustedProxies {
		n, err := parseProxy(p)
		if err != nil {
			return nil, err
		}
		nets = append(nets, n)
	}
	return nets, nil
}

// parseProxy reads one PARLEY_TRUSTED_PROXIES entry: an address (one host)
// or a CIDR range.
func parseProxy(p string) (*net.IPNet, error) {
	p = strings.TrimSpace(p)
	if ip := net.ParseIP(p); ip != nil {
		bits := 128
		if ip.To4() != nil {
			ip, bits = ip.To4(), 32
		}
		return &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}, nil
	}
	_, n, err := net.ParseCIDR(p)
	if err != nil {
		return nil, fmt.Errorf("config: PARLEY_TRUSTED_PROXIES: %q is not an IP address or CIDR range", p)
	}
	return n, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("config: PARLEY_LOG_LEVEL must be debug, info, warn or error")
	}
	return l, nil
}

func newLogger(c Config, w io.Writer) *slog.Logger {
	level, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

const helpText = `Parley: a self-hosted AI conversation server.

Usage:
  parley [serve]                              run the server (the default)
  parley tenants create --name NAME           create a tenant; prints {"id","name","api_key"}
  parley tenants list                         list the tenants; prints [{"id","name","created_at"}]
  parley keys create --tenant ID [--name N]   create an API key; prints {"id","key","tenant_id"}
  parley keys list --tenant ID                list a tenant's keys (never the secrets)
  parley keys revoke KEY_ID                   revoke a key (a running server stops accepting it within 2s)
  parley backup FILE                          write a consistent copy of the database (works while a server runs)
  parley copy --to URL [--from FILE]          copy every row of the SQLite database (PARLEY_DB, or FILE) into an
                                              empty PostgreSQL database; prints the rows per table. Reads one
                                              snapshot: a server may keep running, but what it writes meanwhile
                                              is not copied (stop it first to move everything)
  parley version                              print parley <version> (<commit>, <go version>)
  parley help                                 this text

Configuration is environment only:
`

// printHelp writes the usage and every variable with its default and meaning.
func printHelp(w io.Writer) error {
	fmt.Fprint(w, helpText)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	format := "{{range .}}  {{usage_key .}}\t{{usage_default .}}\t{{usage_description .}}\n{{end}}"
	fmt.Fprintln(tw, "  VARIABLE\tDEFAULT\tMEANING")
	if err := envconfig.Usagef("PARLEY", &Config{}, tw, format); err != nil {
		return err
	}
	return tw.Flush()
}
