package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Lead is a person the tenant's agents talk to.
type Lead struct {
	ID        string  `json:"id"`
	Name      *string `json:"name"`
	Phone     *string `json:"phone"`
	Email     *string `json:"email"`
	Company   *string `json:"company"`
	Meta      Meta    `json:"meta"`
	CreatedAt Time    `json:"created_at"`
	UpdatedAt Time    `json:"updated_at"`
}

// LeadInput creates or partially updates a lead: nil fields are left alone,
// "" clears an optional field, Meta is merged (a null value removes a key).
type LeadInput struct {
	ID      *string
	Name    *string
	Phone   *string
	Email   *string
	Company *string
	Meta    Meta
}

// Page asks for a slice of an offset list.
type Page struct {
	Limit, Offset int
}

const leadColumns = `id, name, phone, email, company, meta, created_at, updated_at`

func scanLead(row interface{ Scan(...any) error }) (Lead, error) {
	var l Lead
	var name, phone, email, company sql.NullString
	var meta string
	if err := row.Scan(&l.ID, &name, &phone, &email, &company, &meta, &l.CreatedAt, &l.UpdatedAt); err != nil {
		return Lead{}, err
	}
	l.Name, l.Phone, l.Email, l.Company = strPtr(name), strPtr(phone), strPtr(email), strPtr(company)
	l.Meta = decodeMeta(meta)
	return l, nil
}

// CreateLead stores a new lead; a taken id or phone is ErrConflict.
func (t *Tenant) CreateLead(ctx context.Context, in LeadInput) (Lead, error) {
	var l Lead
	err := t.s.write(ctx, t.id, func(w *wtx) error {
		var err error
		l, err = insertLead(ctx, w, in)
		return err
	})
	return l, err
}

func insertLead(ctx context.Context, w *wtx, in LeadInput) (Lead, error) {
	id := NewID()
	if in.ID != nil && *in.ID != "" {
		id = *in.ID
	}
	row := w.QueryRowContext(ctx, `INSERT INTO leads (tenant_id, id, name, phone, email, company, meta, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING `+leadColumns,
		w.tenant, id, nullStr(in.Name), nullStr(in.Phone), nullStr(in.Email), nullStr(in.Company),
		Meta{}.merge(in.Meta).encode(), w.now, w.now)
	// A lead that exists returns no row rather than failing the statement:
	// on PostgreSQL a failed statement spoils the whole transaction, and a
	// client creating a lead it already made is common (a 409, not a rerun
	// of every write committing with it).
	l, err := scanLead(row)
	if err == sql.ErrNoRows {
		return l, fmt.Errorf("store: insert lead %s: %w", id, ErrConflict)
	} else if err != nil {
		return l, mapErr("insert lead", err)
	}
	w.counts = true
	return l, w.hook(ctx, HookLeadCreated, leadKey(l.ID), l)
}

// Lead returns one lead.
func (t *Tenant) Lead(ctx context.Context, id string) (Lead, error) {
	l, err := scanLead(t.s.queryRow(ctx, `SELECT `+leadColumns+` FROM leads WHERE tenant_id = ? AND id = ?`, t.id, id))
	return l, mapErr("get lead "+id, err)
}

// UpdateLead applies a partial update.
func (t *Tenant) UpdateLead(ctx context.Context, id string, in LeadInput) (Lead, error) {
	var l Lead
	err := t.s.write(ctx, t.id, func(w *wtx) error {
		cur, err := scanLead(w.QueryRowContext(ctx, `SELECT `+leadColumns+` FROM leads WHERE tenant_id = ? AND id = ?`, t.id, id))
		if err != nil {
			return mapErr("get lead "+id, err)
		}
		pick := func(in, cur *string) any {
			if in != nil {
				return nullStr(in)
			}
			return nullStr(cur)
		}
		l, err = scanLead(w.QueryRowContext(ctx, `UPDATE leads SET name = ?, phone = ?, email = ?, company = ?, meta = ?, updated_at = ?
WHERE tenant_id = ? AND id = ? RETURNING `+leadColumns,
			pick(in.Name, cur.Name), pick(in.Phone, cur.Phone), pick(in.Email, cur.Email), pick(in.Company, cur.Company),
			cur.Meta.merge(in.Meta).encode(), w.now, t.id, id))
		if err != nil {
			return mapErr("update lead "+id, err)
		}
		// Searches match the lead's name, phone and email: re-index its
		// conversations (and recount) only when one of them changed.
		if deref(l.Name) != deref(cur.Name) || deref(l.Phone) != deref(cur.Phone) || deref(l.Email) != deref(cur.Email) {
			w.counts = true
			if err := indexConversations(ctx, w, `c.tenant_id = ? AND c.lead_id = ?`, t.id, id); err != nil {
				return err
			}
		}
		return w.hook(ctx, HookLeadUpdated, leadKey(l.ID), l)
	})
	return l, err
}

// DeleteLead removes a lead with its conversations and messages.
func (t *Tenant) DeleteLead(ctx context.Context, id string) error {
	return t.s.write(ctx, t.id, func(w *wtx) error {
		l, err := scanLead(w.QueryRowContext(ctx, `DELETE FROM leads WHERE tenant_id = ? AND id = ? RETURNING `+leadColumns, t.id, id))
		if err != nil {
			return mapErr("delete lead "+id, err)
		}
		w.counts = true
		if err := w.hook(ctx, HookLeadDeleted, leadKey(l.ID), l); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM messages WHERE tenant_id = ? AND lead_id = ?`,
			`DELETE FROM conversations WHERE tenant_id = ? AND lead_id = ?`,
		} {
			if _, err := w.ExecContext(ctx, q, t.id, id); err != nil {
				return mapErr("delete lead data", err)
			}
		}
		return forgetDeletedRowids(ctx, w)
	})
}

// likePattern escapes s for a LIKE '%s%' match with ESCAPE '\'. Queries
// join the pattern's parameter to an empty string rather than bind it bare
// (LIKE ?): SQLite re-prepares a statement whenever a new value is bound to a
// LIKE's bare parameter (in case the pattern's prefix could use an index),
// which cost a search statement a full parse on every request (7 % of the
// CPU of a name search). The expression is the same text, computed once per
// run; a (SELECT ?) would run again for every row of a correlated scan
// (twice as slow on 100,000 conversations).
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// leadSearch is the lead list's search term: on both engines the columns
// are folded (parley_fold: case and accents) as they are read, since leads
// have no search index and a tenant's leads are scanned on either engine;
// the pattern is folded by PostgreSQL while planning, by Go on SQLite
// (sqlitePattern).
var leadSearch = [...]string{
	engineSQLite: ` AND (` + sqliteLike("name") + ` OR ` + sqliteLike("email") + ` OR ` + sqliteLike("phone") + `)`,
	enginePostgres: ` AND (parley_fold(name)` + pgLike + ` OR parley_fold(email)` + pgLike +
		` OR parley_fold(phone)` + pgLike + `)`,
}

// ListLeads returns leads newest first, optionally matching search in name,
// email or phone, and the total that match.
func (t *Tenant) ListLeads(ctx context.Context, search string, p Page) ([]Lead, int, error) {
	where := `tenant_id = ?`
	args := []any{t.id}
	if search != "" {
		where += leadSearch[t.s.eng]
		pat := likePattern(pgText(search)) // PostgreSQL folds it while planning
		if t.s.eng == engineSQLite {
			pat = sqlitePattern(search)
		}
		args = t.s.planned(append(args, pat, pat, pat))
	}
	total, err := t.s.count(ctx, `SELECT count(*) FROM leads WHERE `+where, args...)
	if err != nil {
		return nil, 0, mapErr("count leads", err)
	}
	rows, err := t.s.query(ctx, `SELECT `+leadColumns+` FROM leads WHERE `+where+
		` ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`, append(args, p.Limit, p.Offset)...)
	if err != nil {
		return nil, 0, mapErr("list leads", err)
	}
	defer rows.Close()
	out := []Lead{}
	for rows.Next() {
		l, err := scanLead(rows)
		if err != nil {
			return nil, 0, mapErr("scan lead", err)
		}
		out = append(out, l)
	}
	return out, total, mapErr("list leads", rows.Err())
}
