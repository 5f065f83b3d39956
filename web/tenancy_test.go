package web_test

import (
	"net/http"
	"testing"

	"github.com/parley-dev/parley/store/storetest"
)

// TestOtherTenantSeesNothing: another tenant's resources are 404, never 403,
// for every verb, and its lists hold only its own rows (API.md §1 tenancy).
func TestOtherTenantSeesNothing(t *testing.T) {
	e := newEnv(t)
	_, otherKey := storetest.Tenant(t, e.store, "other")

	lead := wantData[obj](t, e.do(http.MethodPost, "/backend/leads",
		obj{"id": "5511988887777@s.whatsapp.net", "name": "Ana", "phone": "+5511988887777"}), http.StatusCreated).Data
	asst := wantData[obj](t, e.do(http.MethodPost, "/backend/assistants", obj{"name": "Sales"}), http.StatusCreated).Data
	ch := wantData[obj](t, e.do(http.MethodPost, "/backend/channels",
		obj{"name": "WhatsApp", "type": "whatsapp", "assistant_id": asst["id"]}), http.StatusCreated).Data

	resources := []struct {
		kind, path string
		update     any
	}{
		{"lead", "/backend/leads/" + str(t, lead, "id"), obj{"name": "Stolen"}},
		{"assistant", "/backend/assistants/" + str(t, asst, "id"), obj{"name": "Stolen"}},
		{"channel", "/backend/channels/" + str(t, ch, "id"), obj{"name": "Stolen"}},
	}
	for _, res := range resources {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			t.Run(res.kind+" "+method, func(t *testing.T) {
				var body any
				if method == http.MethodPut {
					body = res.update
				}
				r := e.doKey(otherKey, method, res.path, body)
				p := wantProblem(t, r, http.StatusNotFound, "NOT_FOUND")
				if p.Instance != res.path {
					t.Errorf("instance = %q, want %q", p.Instance, res.path)
				}
			})
		}
		// Nothing the other tenant did changed or removed the row.
		got := wantData[obj](t, e.do(http.MethodGet, res.path, nil), http.StatusOK).Data
		if got["name"] == "Stolen" {
			t.Errorf("%s was renamed by another tenant", res.kind)
		}
	}

	for path, own := range map[string]int{"/backend/leads": 0, "/backend/channels": 1} { // its own default channel
		env := wantData[[]obj](t, e.doKey(otherKey, http.MethodGet, path, nil), http.StatusOK)
		if len(env.Data) != own || env.Pagination == nil || env.Pagination.Total != own || own == 1 && env.Data[0]["is_default"] != true {
			t.Errorf("GET %s as another tenant = %d rows, pagination %+v; want none", path, len(env.Data), env.Pagination)
		}
	}
	// Searching does not cross tenants either.
	env := wantData[[]obj](t, e.doKey(otherKey, http.MethodGet, "/backend/leads?search=Ana", nil), http.StatusOK)
	if len(env.Data) != 0 {
		t.Errorf("search as another tenant found %v", env.Data)
	}
	asstList := wantData[[]obj](t, e.doKey(otherKey, http.MethodGet, "/backend/assistants", nil), http.StatusOK)
	if len(asstList.Data) != 1 || asstList.Pagination.Total != 1 {
		t.Fatalf("another tenant's assistants = %v, want only its own default", asstList.Data)
	}
	if own := asstList.Data[0]; own["id"] == asst["id"] || own["is_default"] != true {
		t.Errorf("another tenant's only assistant = %v, want its own default", own)
	}
	// A channel of one tenant cannot point at another tenant's assistant.
	r := e.doKey(otherKey, http.MethodPost, "/backend/channels", obj{"name": "x", "type": "web", "assistant_id": asst["id"]})
	wantFields(t, r, "assistant_id")
}
