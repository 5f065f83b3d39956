package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Assistant is an AI agent's configuration ("bot" in the EvaGPT dialect).
type Assistant struct {
	ID                     string   `json:"id"`
	Name                   string   `json:"name"`
	Description            string   `json:"description"`
	Presentation           string   `json:"presentation"`
	SystemPrompt           string   `json:"system_prompt"`
	Model                  string   `json:"model"`
	Temperature            *float64 `json:"temperature"`
	HistoryLimit           int      `json:"history_limit"`
	DebounceSeconds        float64  `json:"debounce_seconds"`
	DebounceMaxWaitSeconds float64  `json:"debounce_max_wait_seconds"`
	PauseOnHuman           bool     `json:"pause_on_human"`
	IsDefault              bool     `json:"is_default"`
	CreatedAt              Time     `json:"created_at"`
	UpdatedAt              Time     `json:"updated_at"`
}

// AssistantInput creates or partially updates an assistant (nil = unchanged
// or the default).
type AssistantInput struct {
	Name                   *string
	Description            *string
	Presentation           *string
	SystemPrompt           *string
	Model                  *string
	Temperature            *float64
	HistoryLimit           *int
	DebounceSeconds        *float64
	DebounceMaxWaitSeconds *float64
	PauseOnHuman           *bool
}

const assistantColumns = `id, name, description, presentation, system_prompt, model, temperature, history_limit,
debounce_seconds, debounce_max_wait_seconds, pause_on_human, is_default, created_at, updated_at`

func scanAssistant(row interface{ Scan(...any) error }) (Assistant, error) {
	var a Assistant
	var temp sql.NullFloat64
	err := row.Scan(&a.ID, &a.Name, &a.Description, &a.Presentation, &a.SystemPrompt, &a.Model, &temp, &a.HistoryLimit,
		&a.DebounceSeconds, &a.DebounceMaxWaitSeconds, &a.PauseOnHuman, &a.IsDefault, &a.CreatedAt, &a.UpdatedAt)
	if temp.Valid {
		a.Temperature = &temp.Float64
	}
	return a, err
}

// apply overlays the input on a (defaults for a new one).
func (in AssistantInput) apply(a Assistant) Assistant {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&a.Name, in.Name)
	set(&a.Description, in.Description)
	set(&a.Presentation, in.Presentation)
	set(&a.SystemPrompt, in.SystemPrompt)
	set(&a.Model, in.Model)
	if in.Temperature != nil {
		a.Temperature = in.Temperature
	}
	if in.HistoryLimit != nil {
		a.HistoryLimit = *in.HistoryLimit
	}
	if in.DebounceSeconds != nil {
		a.DebounceSeconds = *in.DebounceSeconds
	}
	if in.DebounceMaxWaitSeconds != nil {
		a.DebounceMaxWaitSeconds = *in.DebounceMaxWaitSeconds
	}
	if in.PauseOnHuman != nil {
		a.PauseOnHuman = *in.PauseOnHuman
	}
	return a
}

// DefaultAssistantSettings are the values of API.md §3.2 for a new assistant.
var DefaultAssistantSettings = Assistant{HistoryLimit: 20, DebounceSeconds: 5, DebounceMaxWaitSeconds: 30, PauseOnHuman: true}

func insertAssistant(ctx context.Context, w *wtx, in AssistantInput, isDefault bool) (Assistant, error) {
	a := in.apply(DefaultAssistantSettings)
	a.ID, a.IsDefault = NewID(), isDefault
	a, err := scanAssistant(w.QueryRowContext(ctx, `INSERT INTO assistants (id, tenant_id, name, description, presentation,
system_prompt, model, temperature, history_limit, debounce_seconds, debounce_max_wait_seconds, pause_on_human, is_default,
created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+assistantColumns,
		a.ID, w.tenant, a.Name, a.Description, a.Presentation, a.SystemPrompt, a.Model, a.Temperature, a.HistoryLimit,
		a.DebounceSeconds, a.DebounceMaxWaitSeconds, a.PauseOnHuman, a.IsDefault, w.now, w.now))
	return a, mapErr("insert assistant", err)
}

// CreateAssistant adds an assistant.
func (t *Tenant) CreateAssistant(ctx context.Context, in AssistantInput) (Assistant, error) {
	var a Assistant
	err := t.s.write(ctx, t.id, func(w *wtx) error {
		var err error
		a, err = insertAssistant(ctx, w, in, false)
		return err
	})
	return a, err
}

// Assistant returns one assistant. Every AI turn reads its assistant and
// assistants change rarely, so reads come from memory until a write to
// assistants commits: such a write bumps assistantGen after its commit and
// before it is answered, so nobody reads an assistant older than their own
// acknowledged change. On PostgreSQL an entry lasts at most pgCacheTTL too:
// another server may have changed the assistant.
func (t *Tenant) Assistant(ctx context.Context, id string) (Assistant, error) {
	gen := t.s.assistantGen.Load()
	key := t.id + "\x00" + id
	if a, ok := t.s.assistants.get(key, gen); ok {
		return a.clone(), nil
	}
	a, err := scanAssistant(t.s.queryRow(ctx, `SELECT `+assistantColumns+` FROM assistants WHERE tenant_id = ? AND id = ?`, t.id, id))
	if err != nil {
		return a, mapErr("get assistant "+id, err)
	}
	t.s.assistants.put(key, gen, a.clone())
	return a, nil
}

// clone copies a so that no caller shares its pointer fields.
func (a Assistant) clone() Assistant {
	if a.Temperature != nil {
		t := *a.Temperature
		a.Temperature = &t
	}
	return a
}

// DefaultAssistant returns the tenant's default assistant.
func (t *Tenant) DefaultAssistant(ctx context.Context) (Assistant, error) {
	a, err := scanAssistant(t.s.queryRow(ctx, `SELECT `+assistantColumns+` FROM assistants WHERE tenant_id = ? AND is_default = 1`, t.id))
	return a, mapErr("get default assistant", err)
}

// ListAssistants lists assistants oldest first (the default one leads).
func (t *Tenant) ListAssistants(ctx context.Context, p Page) ([]Assistant, int, error) {
	var total int
	if err := t.s.queryRow(ctx, `SELECT count(*) FROM assistants WHERE tenant_id = ?`, t.id).Scan(&total); err != nil {
		return nil, 0, mapErr("count assistants", err)
	}
	rows, err := t.s.query(ctx, `SELECT `+assistantColumns+` FROM assistants WHERE tenant_id = ?
ORDER BY created_at, id LIMIT ? OFFSET ?`, t.id, p.Limit, p.Offset)
	if err != nil {
		return nil, 0, mapErr("list assistants", err)
	}
	defer rows.Close()
	out := []Assistant{}
	for rows.Next() {
		a, err := scanAssistant(rows)
		if err != nil {
			return nil, 0, mapErr("scan assistant", err)
		}
		out = append(out, a)
	}
	return out, total, mapErr("list assistants", rows.Err())
}

// UpdateAssistant applies a partial update.
func (t *Tenant) UpdateAssistant(ctx context.Context, id string, in AssistantInput) (Assistant, error) {
	var a Assistant
	err := t.s.write(ctx, t.id, func(w *wtx) error {
		w.assistants = true
		cur, err := scanAssistant(w.QueryRowContext(ctx, `SELECT `+assistantColumns+` FROM assistants WHERE tenant_id = ? AND id = ?`, t.id, id))
		if err != nil {
			return mapErr("get assistant "+id, err)
		}
		n := in.apply(cur)
		a, err = scanAssistant(w.QueryRowContext(ctx, `UPDATE assistants SET name = ?, description = ?, presentation = ?,
system_prompt = ?, model = ?, temperature = ?, history_limit = ?, debounce_seconds = ?, debounce_max_wait_seconds = ?,
pause_on_human = ?, updated_at = ? WHERE tenant_id = ? AND id = ? RETURNING `+assistantColumns,
			n.Name, n.Description, n.Presentation, n.SystemPrompt, n.Model, n.Temperature, n.HistoryLimit, n.DebounceSeconds,
			n.DebounceMaxWaitSeconds, n.PauseOnHuman, w.now, t.id, id))
		return mapErr("update assistant "+id, err)
	})
	return a, err
}

// ErrDefaultAssistant refuses to delete the tenant's default assistant.
var ErrDefaultAssistant = fmt.Errorf("the default assistant cannot be deleted: %w", ErrConflict)

// DeleteAssistant removes an assistant; its conversations move to the default
// assistant and its channels lose their assistant.
func (t *Tenant) DeleteAssistant(ctx context.Context, id string) error {
	return t.s.write(ctx, t.id, func(w *wtx) error {
		w.assistants = true
		var isDefault bool
		err := w.QueryRowContext(ctx, `SELECT is_default FROM assistants WHERE tenant_id = ? AND id = ?`, t.id, id).Scan(&isDefault)
		if err != nil {
			return mapErr("get assistant "+id, err)
		}
		if isDefault {
			return ErrDefaultAssistant
		}
		w.counts = true // its conversations move to the default assistant
		for _, q := range []string{
			`UPDATE conversations SET assistant_id = (SELECT id FROM assistants WHERE tenant_id = ?1 AND is_default = 1)
WHERE tenant_id = ?1 AND assistant_id = ?2`,
			`UPDATE channels SET assistant_id = NULL WHERE tenant_id = ?1 AND assistant_id = ?2`,
			`DELETE FROM assistants WHERE tenant_id = ?1 AND id = ?2`,
		} {
			if _, err := w.ExecContext(ctx, q, t.id, id); err != nil {
				return mapErr("delete assistant "+id, err)
			}
		}
		return nil
	})
}
