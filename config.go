package main

import (
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// Config is the whole server configuration, read from PARLEY_* variables.
// `parley help` prints this table; keep desc tags short and true.
type Config struct {
	Addr               string        `envconfig:"ADDR" default:":8080" desc:"address to listen on"`
	DB                 string        `envconfig:"DB" default:"parley.db" desc:"path of the SQLite database file"`
	BootstrapAPIKey    string        `envconfig:"BOOTSTRAP_API_KEY" desc:"on start, register this API key (for the default tenant) instead of printing a generated one"`
	MaxBodyBytes       int64         `envconfig:"MAX_BODY_BYTES" default:"1048576" desc:"largest accepted request body; larger is 413"`
	RateLimitPerMinute int           `envconfig:"RATE_LIMIT_PER_MINUTE" default:"100" desc:"requests per minute per API key (token bucket); 0 turns it off"`
	LogLevel           string        `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogFormat          string        `envconfig:"LOG_FORMAT" default:"text" desc:"text or json"`
	ShutdownTimeout    time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"10s" desc:"how long SIGTERM waits for in-flight requests"`
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
	case c.LogFormat != "text" && c.LogFormat != "json":
		return c, fmt.Errorf("config: PARLEY_LOG_FORMAT must be text or json")
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return c, err
	}
	return c, nil
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
  parley keys create --tenant ID [--name N]   create an API key; prints {"id","key","tenant_id"}
  parley keys list --tenant ID                list a tenant's keys (never the secrets)
  parley keys revoke KEY_ID                   revoke a key (a running server stops accepting it within 2s)
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
