package app_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-dev/parley/app"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/store/storetest"
)

// TestNewRefusesAfterBootstrap: a configuration refused while wiring (here
// the retry schedule) comes after the bootstrap hook ran, as `parley serve`
// has always done: a fresh database still gets its first tenant.
func TestNewRefusesAfterBootstrap(t *testing.T) {
	cfg := app.Config{DB: filepath.Join(t.TempDir(), "parley.db"), Schema: storetest.Schema(t), DeliveryRetrySchedule: "soon"}
	ran := false
	_, err := app.New(context.Background(), cfg, app.Options{Bootstrap: func(context.Context, *store.Store) error {
		ran = true
		return nil
	}})
	if err == nil || !strings.Contains(err.Error(), "PARLEY_DELIVERY_RETRY_SCHEDULE") || !ran {
		t.Fatalf("New = %v (bootstrap ran: %v), want the schedule refused after the bootstrap", err, ran)
	}
}

// TestStartAndClose: a started app stops its loops and closes its store on
// Close, and a second Close does nothing.
func TestStartAndClose(t *testing.T) {
	cfg := app.Config{DB: filepath.Join(t.TempDir(), "parley.db"), Schema: storetest.Schema(t), BackupDir: t.TempDir(),
		BackupInterval: 1 << 40, BackupKeep: 1}
	a, err := app.New(context.Background(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.OnShutdown()
	a.Close()
	a.Close()
	if err := a.Store.Ping(context.Background()); err == nil {
		t.Fatal("the store still answers after Close")
	}
}
