package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/parley-dev/parley/store"
)

// runBackup is `parley backup FILE`: a consistent copy of the live database,
// taken beside a running server without stopping its writes. Scheduled
// backups are app's (PARLEY_BACKUP_DIR).
func runBackup(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return usageError("backup: give exactly one FILE to write (see parley help)")
	}
	if cfg.DatabaseURL != "" {
		return fmt.Errorf("backup: parley backup copies a SQLite database; on PostgreSQL use pg_dump")
	}
	info, err := store.Backup(ctx, cfg.DB, args[0])
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(info)
}
