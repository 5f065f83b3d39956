// Command parley is a self-hosted AI conversation server: one binary, an
// embedded SQLite store, two REST dialects, live SSE streams and AI turns.
//
// main reads the configuration, hands it to package app (which wires the
// parts), serves its handler over http.Server and handles signals;
// everything else lives in its package.
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/parley-dev/parley/store"
)

//go:embed schema.sql
var schemaSQL string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil))
}

// run executes one command line and returns the exit code. onListen, when not
// nil, is told the server's address (tests listen on port 0).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, onListen func(net.Addr)) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		if err := printHelp(stdout); err != nil {
			fmt.Fprintln(stderr, "parley:", err)
			return 1
		}
		return 0
	}
	if cmd == "version" || cmd == "--version" {
		if err := printVersion(stdout); err != nil {
			return 1
		}
		return 0
	}
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintln(stderr, "parley:", err)
		return 2
	}
	switch cmd {
	case "serve":
		err = serve(ctx, cfg, stderr, onListen)
	case "tenants", "keys":
		err = runAdmin(ctx, cfg, cmd, args, stdout)
	case "backup":
		err = runBackup(ctx, cfg, args, stdout)
	case "copy":
		err = runCopy(ctx, cfg, args, stdout)
	default:
		err = usageError("unknown command %q (see parley help)", cmd)
	}
	if err != nil {
		fmt.Fprintln(stderr, "parley:", err)
		var ue usageErr
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// minBootstrapKey is the shortest PARLEY_BOOTSTRAP_API_KEY accepted: a key
// an operator types by hand must not be guessable, and 32 characters of
// hex are 128 bits.
const minBootstrapKey = 32

// serve runs the HTTP server until ctx is cancelled (SIGTERM/SIGINT), then
// drains in-flight requests within cfg.ShutdownTimeout.
func serve(ctx context.Context, cfg Config, stderr io.Writer, onListen func(net.Addr)) error {
	log := newLogger(cfg, stderr)
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return fmt.Errorf("PARLEY_CPU_PROFILE: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("PARLEY_CPU_PROFILE: %w", err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if k := cfg.BootstrapAPIKey; k != "" && len(k) < minBootstrapKey {
		return fmt.Errorf("PARLEY_BOOTSTRAP_API_KEY is %d characters; use at least %d (e.g. openssl rand -hex 24)", len(k), minBootstrapKey)
	}
	release, err := lockServer(ctx, cfg)
	if err != nil {
		return err
	}
	defer release()
	a, err := newApp(ctx, cfg, log, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.Start(ctx); err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(a.OnShutdown)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	log.Info("parley listening", append([]any{"addr", ln.Addr().String()}, setupAttrs(cfg)...)...)
	for _, w := range setupWarnings(cfg) {
		log.Warn(w)
	}
	if onListen != nil {
		onListen(ln.Addr())
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	// Opening (migrations, the schema on every connection, reloading
	// batches) leaves garbage that an idle server would keep mapped for
	// minutes; hand it back now. Small boxes run Parley beside other things.
	go func() {
		time.Sleep(time.Second)
		debug.FreeOSMemory()
	}()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown did not finish in time", "err", err)
	}
	return nil
}

// bootstrap makes a fresh database usable: tenant "default", its assistant and
// one API key, printed once to stderr. With a bootstrap key that key is
// registered instead (on a fresh database, or added to the first tenant when
// it is not known yet) and nothing secret is printed.
func bootstrap(ctx context.Context, st *store.Store, key string, stderr io.Writer) error {
	n, err := st.CountTenants(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		t, k, err := st.CreateTenant(ctx, "default", key)
		if err != nil {
			return err
		}
		if key == "" {
			fmt.Fprintf(stderr, "parley: created tenant default (%s) with API key %s\n", t.ID, k)
		} else {
			fmt.Fprintf(stderr, "parley: created tenant default (%s) with the key from PARLEY_BOOTSTRAP_API_KEY\n", t.ID)
		}
		return nil
	}
	if key == "" {
		return nil
	}
	if _, err := st.KeyByHash(ctx, store.HashKey(key)); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	t, err := st.FirstTenant(ctx)
	if err != nil {
		return err
	}
	_, _, err = st.Tenant(t.ID).CreateKey(ctx, "bootstrap", key)
	if errors.Is(err, store.ErrConflict) {
		// The key exists but was revoked: revocation wins, the server starts.
		fmt.Fprintln(stderr, "parley: PARLEY_BOOTSTRAP_API_KEY was revoked; it stays revoked")
		return nil
	}
	return err
}
