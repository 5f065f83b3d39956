package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"

	"github.com/parley-dev/parley/store"
)

// runCopy is `parley copy --to URL [--from FILE]`: every row of a SQLite
// database into an empty PostgreSQL one, for moving a server to
// PARLEY_DATABASE_URL. The source is read from one snapshot, so a server
// may keep running on it; what it writes after the snapshot is not copied.
func runCopy(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("copy", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	to := fs.String("to", "", "PostgreSQL URL")
	from := fs.String("from", "", "SQLite file")
	if err := fs.Parse(args); err != nil {
		return usageError("copy: %v", err)
	}
	if fs.NArg() > 0 {
		return usageError("copy: unexpected argument %q", fs.Arg(0))
	}
	switch {
	case *to == "":
		return usageError("copy: --to postgres://user:pass@host:5432/db is required")
	case !store.IsPostgresURL(*to):
		return usageError("copy: --to must be a postgres:// or postgresql:// URL")
	}
	// The source is PARLEY_DB even when PARLEY_DATABASE_URL is set: an
	// operator moving a server may already have pointed that at the target.
	src := cfg.DB
	if *from != "" {
		src = *from
	}
	if store.IsPostgresURL(src) {
		return usageError("copy: --from names a SQLite file, not a URL")
	}
	counts, err := store.Copy(ctx, src, *to, schemaSQL)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(counts)
}
