package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Backups. VACUUM INTO writes a consistent copy of the database from one read
// transaction: it takes no write lock, so the server's writes go on while it
// runs (a snapshot in WAL mode), and the copy is a plain database file,
// compacted, that needs no -wal or -shm beside it. SQLite's online backup API
// would be the other way, but it starts over whenever another connection
// writes between its steps, so under steady writes it never finishes.
//
// The one cost: while the copy reads, its snapshot keeps checkpoints from
// copying the WAL past it, so the WAL grows by the writes made meanwhile and
// is emptied right after (checkpoint.go).

// BackupInfo describes a finished backup.
type BackupInfo struct {
	File    string  `json:"file"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
}

// Backup writes a consistent copy of the database at dbPath to dest, which
// must not exist. It opens its own connection, so it works beside a running
// server (the CLI) as well as inside one. The copy is synced and appears
// under dest only once complete.
func Backup(ctx context.Context, dbPath, dest string) (BackupInfo, error) {
	start := time.Now()
	if _, err := os.Stat(dbPath); err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup: database %s: %w", dbPath, errors.Unwrap(err))
	}
	if _, err := os.Stat(dest); err == nil {
		return BackupInfo{}, fmt.Errorf("store: backup: %s already exists", dest)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".partial-*")
	if err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup: %w", err)
	}
	tmpPath := tmp.Name()
	tmp.Close()
	os.Remove(tmpPath) // VACUUM INTO wants to create the file itself
	defer os.Remove(tmpPath)

	// A read-write connection (it never writes): SQLite refuses VACUUM INTO
	// on a query_only one. Without _txlock it reads like any reader.
	db, err := sql.Open("sqlite", "file:"+dbPath+"?"+url.Values{"_pragma": {
		fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()), "journal_mode(WAL)"}}.Encode())
	if err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmpPath); err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup: %w", err)
	}
	if err := syncFile(tmpPath); err != nil {
		return BackupInfo{}, err
	}
	if err := os.Rename(tmpPath, dest); err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup: %w", err)
	}
	if err := syncFile(filepath.Dir(dest)); err != nil { // the rename itself
		return BackupInfo{}, err
	}
	fi, err := os.Stat(dest)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup: %w", err)
	}
	return BackupInfo{File: dest, Bytes: fi.Size(), Seconds: time.Since(start).Seconds()}, nil
}

// syncFile flushes a file or a directory to disk.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("store: backup: sync: %w", err)
	}
	return nil
}
