package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/parley-dev/parley/store"
)

// housekeepingEvery is how often expired idempotency keys and old
// deliveries are deleted and free pages returned. Idempotency keys' 24 h
// validity is checked on read, so this only bounds the tables' size; each
// pass deletes in short batches (store/retention.go).
const housekeepingEvery = 10 * time.Minute

// every calls f every d until ctx ends: the shape of each background loop.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f()
	}
}

// housekeeping deletes what is kept only for a while and hands a large
// surplus of free pages back to the file system (one pass).
func housekeeping(ctx context.Context, st *store.Store, deliveryRetention time.Duration, log *slog.Logger) {
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

// backupPrefix and backupLayout name scheduled backups by UTC time, so that
// names sort in time order.
const (
	backupPrefix = "parley-"
	backupLayout = "20060102T150405Z"
	backupSuffix = ".db"
)

// scheduledBackup takes a backup into cfg.BackupDir (every
// cfg.BackupInterval) and keeps the newest cfg.BackupKeep. A failure is
// logged and counted; it never stops the server.
func scheduledBackup(ctx context.Context, cfg Config, log *slog.Logger, count func(outcome string)) {
	info, err := takeBackup(ctx, cfg)
	if err != nil {
		if ctx.Err() == nil {
			count("error")
			log.Error("scheduled backup failed", "dir", cfg.BackupDir, "err", err)
		}
		return
	}
	count("ok")
	log.Info("backup written", "file", info.File, "bytes", info.Bytes, "seconds", info.Seconds)
	if err := pruneBackups(cfg.BackupDir, cfg.BackupKeep); err != nil {
		log.Warn("removing old backups", "dir", cfg.BackupDir, "err", err)
	}
}

// takeBackup writes one scheduled backup.
func takeBackup(ctx context.Context, cfg Config) (store.BackupInfo, error) {
	if err := os.MkdirAll(cfg.BackupDir, 0o700); err != nil {
		return store.BackupInfo{}, err
	}
	name := backupPrefix + time.Now().UTC().Format(backupLayout) + backupSuffix
	return store.Backup(ctx, cfg.DB, filepath.Join(cfg.BackupDir, name))
}

// pruneBackups removes the oldest scheduled backups beyond keep. Only files
// named like scheduled backups are touched.
func pruneBackups(dir string, keep int) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		stamp, prefixed := strings.CutPrefix(n, backupPrefix)
		stamp, suffixed := strings.CutSuffix(stamp, backupSuffix)
		if !prefixed || !suffixed || e.IsDir() {
			continue
		}
		if _, err := time.Parse(backupLayout, stamp); err == nil {
			names = append(names, n)
		}
	}
	slices.Sort(names) // oldest first
	var errs []error
	for len(names) > keep {
		if err := os.Remove(filepath.Join(dir, names[0])); err != nil {
			errs = append(errs, err)
		}
		names = names[1:]
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d old backups not removed: %w", len(errs), errs[0])
	}
	return nil
}
