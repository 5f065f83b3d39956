package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/parley-dev/parley/store"
)

// usageErr is a command-line mistake (exit code 2).
type usageErr struct{ msg string }

func (e usageErr) Error() string { return e.msg }

func usageError(format string, args ...any) error { return usageErr{fmt.Sprintf(format, args...)} }

// runAdmin runs the tenants and keys commands of API.md §7. They work while a
// server runs on the same database (SQLite WAL, one writer at a time).
func runAdmin(ctx context.Context, cfg Config, group string, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError("%s needs a subcommand (see parley help)", group)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet(group+" "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	name := fs.String("name", "", "name")
	tenant := fs.String("tenant", "", "tenant id")
	if err := fs.Parse(args); err != nil {
		return usageError("%s %s: %v", group, sub, err)
	}
	// Check the command line before touching the database: a typo must not
	// create or migrate a database file.
	switch cmd := group + " " + sub; cmd {
	case "tenants create":
		if strings.TrimSpace(*name) == "" {
			return usageError("tenants create: --name is required")
		}
	case "tenants list":
	case "keys create", "keys list":
		if *tenant == "" {
			return usageError("%s: --tenant is required", cmd)
		}
	case "keys revoke":
		if fs.NArg() != 1 {
			return usageError("keys revoke: give exactly one KEY_ID")
		}
	default:
		return usageError("unknown command %q (see parley help)", cmd)
	}
	if fs.NArg() > 0 && group+" "+sub != "keys revoke" {
		return usageError("%s %s: unexpected argument %q", group, sub, fs.Arg(0))
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	out := json.NewEncoder(stdout)
	switch group + " " + sub {
	case "tenants list":
		list, err := st.ListTenants(ctx)
		if err != nil {
			return err
		}
		out := make([]tenantView, len(list))
		for i, t := range list {
			out[i] = tenantView{ID: t.ID, Name: t.Name, CreatedAt: store.Time(t.CreatedAt)}
		}
		return json.NewEncoder(stdout).Encode(out)
	case "tenants create":
		t, key, err := st.CreateTenant(ctx, strings.TrimSpace(*name), "")
		if err != nil {
			return err
		}
		return out.Encode(map[string]string{"id": t.ID, "name": t.Name, "api_key": key})
	case "keys create":
		k, key, err := st.Tenant(*tenant).CreateKey(ctx, *name, "")
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("keys create: tenant %s not found", *tenant)
		} else if err != nil {
			return err
		}
		return out.Encode(map[string]string{"id": k.ID, "key": key, "tenant_id": k.TenantID})
	case "keys list":
		if _, err := st.Tenant(*tenant).Info(ctx); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("keys list: tenant %s not found", *tenant)
		} else if err != nil {
			return err
		}
		keys, err := st.Tenant(*tenant).ListKeys(ctx)
		if err != nil {
			return err
		}
		list := make([]keyView, len(keys))
		for i, k := range keys {
			list[i] = viewKey(k)
		}
		return out.Encode(list)
	default: // keys revoke
		k, err := st.RevokeKey(ctx, fs.Arg(0))
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("keys revoke: key %s not found", fs.Arg(0))
		} else if err != nil {
			return err
		}
		return out.Encode(viewKey(k))
	}
}

// tenantView is a tenant as tenants list prints it: never its secrets.
type tenantView struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	CreatedAt store.Time `json:"created_at"`
}

type keyView struct {
	ID        string      `json:"id"`
	TenantID  string      `json:"tenant_id"`
	Name      string      `json:"name"`
	Prefix    string      `json:"prefix"`
	CreatedAt store.Time  `json:"created_at"`
	RevokedAt *store.Time `json:"revoked_at"`
}

func viewKey(k store.APIKey) keyView {
	v := keyView{ID: k.ID, TenantID: k.TenantID, Name: k.Name, Prefix: k.Prefix, CreatedAt: store.Time(k.CreatedAt)}
	if k.RevokedAt != nil {
		t := store.Time(*k.RevokedAt)
		v.RevokedAt = &t
	}
	return v
}
