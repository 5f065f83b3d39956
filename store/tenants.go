package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
)

// TenantInfo is a tenant as settings and the CLI show it.
type TenantInfo struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	PostbackSecret string `json:"postback_secret"`
	CreatedAt      int64  `json:"-"`
}

// APIKey describes a key without its secret (only the hash is stored).
type APIKey struct {
	ID        string `json:"id"`
	TenantID  string `json:"tenant_id"`
	Name      string `json:"name"`
	Prefix    string `json:"prefix"`
	CreatedAt int64  `json:"-"`
	RevokedAt *int64 `json:"-"`
}

// NewID returns a fresh UUIDv7 string: time ordered, so indexes stay local.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// randomToken returns prefix + 32 bytes of crypto randomness, URL-safe.
func randomToken(prefix string) string {
	b := make([]byte, 32)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// HashKey is how API keys are stored and looked up.
func HashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// keyPrefixLen is how much of a key is kept in clear to tell keys apart in a
// list: "prl_" and 4 random characters of a generated key.
const keyPrefixLen = 8

// keyPrefix is the part of key kept in clear: keyPrefixLen characters, but
// never more than a quarter of the key, so that a short operator-chosen key
// (PARLEY_BOOTSTRAP_API_KEY) is not stored, nor listed, in clear.
func keyPrefix(key string) string { return key[:min(keyPrefixLen, len(key)/4)] }

// CountTenants reports how many tenants exist (0 means a fresh database).
func (s *Store) CountTenants(ctx context.Context) (int, error) {
	var n int
	err := s.queryRow(ctx, `SELECT count(*) FROM tenants`).Scan(&n)
	return n, mapErr("count tenants", err)
}

// ListTenants lists every tenant, oldest first (an operator command).
func (s *Store) ListTenants(ctx context.Context) ([]TenantInfo, error) {
	rows, err := s.query(ctx, `SELECT id, name, postback_secret, created_at FROM tenants ORDER BY created_at, id`)
	if err != nil {
		return nil, mapErr("list tenants", err)
	}
	defer rows.Close()
	out := []TenantInfo{}
	for rows.Next() {
		var t TenantInfo
		if err := rows.Scan(&t.ID, &t.Name, &t.PostbackSecret, &t.CreatedAt); err != nil {
			return nil, mapErr("scan tenant", err)
		}
		out = append(out, t)
	}
	return out, mapErr("list tenants", rows.Err())
}

// FirstTenant returns the oldest tenant (the bootstrap one).
func (s *Store) FirstTenant(ctx context.Context) (TenantInfo, error) {
	var t TenantInfo
	err := s.queryRow(ctx, `SELECT id, name, postback_secret, created_at FROM tenants ORDER BY created_at, id LIMIT 1`).
		Scan(&t.ID, &t.Name, &t.PostbackSecret, &t.CreatedAt)
	return t, mapErr("first tenant", err)
}

// CreateTenant creates a tenant with its default assistant and channel, its postback
// secret and one API key. If key is empty a new one is generated. It returns
// the tenant and the key in clear (the only time it exists in clear).
func (s *Store) CreateTenant(ctx context.Context, name, key string) (TenantInfo, string, error) {
	if key == "" {
		key = NewAPIKey()
	}
	t := TenantInfo{ID: NewID(), Name: name, PostbackSecret: randomToken("whsec_")}
	err := s.write(ctx, t.ID, func(w *wtx) error {
		t.CreatedAt = w.now
		if _, err := w.ExecContext(ctx, `INSERT INTO tenants (id, name, postback_secret, created_at) VALUES (?, ?, ?, ?)`,
			t.ID, t.Name, t.PostbackSecret, w.now); err != nil {
			return mapErr("insert tenant", err)
		}
		if _, err := insertKey(ctx, w, t.ID, "default", key); err != nil {
			return err
		}
		if err := insertDefaultChannel(ctx, w, t.ID, w.now); err != nil {
			return err
		}
		_, err := insertAssistant(ctx, w, AssistantInput{Name: ptr("Default assistant")}, true)
		return err
	})
	if err != nil {
		return TenantInfo{}, "", err
	}
	return t, key, nil
}

// Info returns the tenant's settings.
func (t *Tenant) Info(ctx context.Context) (TenantInfo, error) {
	var ti TenantInfo
	err := t.s.queryRow(ctx, `SELECT id, name, postback_secret, created_at FROM tenants WHERE id = ?`, t.id).
		Scan(&ti.ID, &ti.Name, &ti.PostbackSecret, &ti.CreatedAt)
	return ti, mapErr("get tenant", err)
}

// NewAPIKey generates a key in clear.
func NewAPIKey() string { return randomToken("prl_") }

func insertKey(ctx context.Context, w *wtx, tenantID, name, key string) (APIKey, error) {
	k := APIKey{ID: NewID(), TenantID: tenantID, Name: name, Prefix: keyPrefix(key), CreatedAt: w.now}
	_, err := w.ExecContext(ctx, `INSERT INTO api_keys (id, tenant_id, name, key_hash, prefix, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, k.TenantID, k.Name, HashKey(key), k.Prefix, k.CreatedAt)
	return k, mapErr("insert api key", err)
}

// CreateKey adds an API key to the tenant. key may be given (bootstrap) or
// empty to generate one; the key is returned in clear once.
func (t *Tenant) CreateKey(ctx context.Context, name, key string) (APIKey, string, error) {
	if key == "" {
		key = NewAPIKey()
	}
	var k APIKey
	err := t.s.write(ctx, t.id, func(w *wtx) error {
		var exists int
		if err := w.QueryRowContext(ctx, `SELECT count(*) FROM tenants WHERE id = ?`, t.id).Scan(&exists); err != nil {
			return mapErr("check tenant", err)
		}
		if exists == 0 {
			return fmt.Errorf("store: tenant %s: %w", t.id, ErrNotFound)
		}
		var err error
		k, err = insertKey(ctx, w, t.id, name, key)
		return err
	})
	return k, key, err
}

// ListKeys lists the tenant's keys, revoked ones included.
func (t *Tenant) ListKeys(ctx context.Context) ([]APIKey, error) {
	rows, err := t.s.query(ctx, `SELECT id, tenant_id, name, prefix, created_at, revoked_at FROM api_keys
WHERE tenant_id = ? ORDER BY created_at, id`, t.id)
	if err != nil {
		return nil, mapErr("list keys", err)
	}
	defer rows.Close()
	out := []APIKey{}
	for rows.Next() {
		var k APIKey
		var revoked sql.NullInt64
		if err := rows.Scan(&k.ID, &k.TenantID, &k.Name, &k.Prefix, &k.CreatedAt, &revoked); err != nil {
			return nil, mapErr("scan key", err)
		}
		if revoked.Valid {
			k.RevokedAt = &revoked.Int64
		}
		out = append(out, k)
	}
	return out, mapErr("list keys", rows.Err())
}

// RevokeKey revokes a key by id, whatever its tenant (an operator command).
func (s *Store) RevokeKey(ctx context.Context, keyID string) (APIKey, error) {
	var k APIKey
	err := s.writeRaw(ctx, func(w *wtx) error {
		var revoked sql.NullInt64
		err := w.QueryRowContext(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?
RETURNING id, tenant_id, name, prefix, created_at, revoked_at`, w.now, keyID).
			Scan(&k.ID, &k.TenantID, &k.Name, &k.Prefix, &k.CreatedAt, &revoked)
		if err != nil {
			return mapErr("revoke key "+keyID, err)
		}
		k.RevokedAt = &revoked.Int64
		return nil
	})
	return k, err
}

// KeyByHash finds an active key by its hash (authentication).
func (s *Store) KeyByHash(ctx context.Context, hash []byte) (APIKey, error) {
	var k APIKey
	err := s.queryRow(ctx, `SELECT id, tenant_id, name, prefix, created_at FROM api_keys
WHERE key_hash = ? AND revoked_at IS NULL`, hash).Scan(&k.ID, &k.TenantID, &k.Name, &k.Prefix, &k.CreatedAt)
	return k, mapErr("find key", err)
}

// ActiveKeys reports which of the key ids still work: not revoked, and
// their tenant not deleted (deleting a tenant deletes its keys). Open
// streams are re-authorized with it, one query for all of them.
func (s *Store) ActiveKeys(ctx context.Context, ids []string) (map[string]bool, error) {
	var rows *sql.Rows
	var err error
	if s.eng == enginePostgres { // an array parameter where SQLite takes a JSON list
		rows, err = s.query(ctx, `SELECT id FROM api_keys WHERE id = ANY($1::text[]) AND revoked_at IS NULL`, ids)
	} else {
		list, jerr := json.Marshal(ids)
		if jerr != nil {
			return nil, jerr
		}
		rows, err = s.query(ctx, `SELECT id FROM api_keys WHERE id IN (SELECT value FROM json_each(?)) AND revoked_at IS NULL`,
			string(list))
	}
	if err != nil {
		return nil, mapErr("active keys", err)
	}
	defer rows.Close()
	active := make(map[string]bool, len(ids))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, mapErr("active keys", err)
		}
		active[id] = true
	}
	return active, mapErr("active keys", rows.Err())
}

func ptr[T any](v T) *T { return &v }
