package main

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

var uuidv7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// jsonOut decodes a command's stdout: one JSON document on one line.
func jsonOut(t *testing.T, out string, v any) {
	t.Helper()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Errorf("stdout %q is not one line", out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("stdout %q: %v", out, err)
	}
}

func keysOf(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func TestCLITenantsAndKeys(t *testing.T) {
	setEnv(t, "")
	code, out, errOut := cli(t, "tenants", "create", "--name", "Globex")
	if code != 0 || errOut != "" {
		t.Fatalf("tenants create = %d, stderr %q", code, errOut)
	}
	var tenant map[string]any
	jsonOut(t, out, &tenant)
	if keysOf(tenant) != "api_key,id,name" || tenant["name"] != "Globex" || !uuidv7.MatchString(tenant["id"].(string)) ||
		!strings.HasPrefix(tenant["api_key"].(string), "prl_") {
		t.Fatalf("tenants create printed %v, want {id, name, api_key}", tenant)
	}
	tid, tenantKey := tenant["id"].(string), tenant["api_key"].(string)

	code, out, errOut = cli(t, "keys", "create", "--tenant", tid, "--name", "ci")
	if code != 0 || errOut != "" {
		t.Fatalf("keys create = %d, stderr %q", code, errOut)
	}
	var key map[string]any
	jsonOut(t, out, &key)
	if keysOf(key) != "id,key,tenant_id" || key["tenant_id"] != tid || !uuidv7.MatchString(key["id"].(string)) ||
		!strings.HasPrefix(key["key"].(string), "prl_") || key["key"] == tenantKey {
		t.Fatalf("keys create printed %v, want {id, key, tenant_id}", key)
	}
	ciID, ciKey := key["id"].(string), key["key"].(string)
	if code, _, _ := cli(t, "keys", "create", "--tenant", tid); code != 0 {
		t.Fatalf("keys create without --name = %d", code)
	}

	code, out, errOut = cli(t, "keys", "list", "--tenant", tid)
	if code != 0 || errOut != "" {
		t.Fatalf("keys list = %d, stderr %q", code, errOut)
	}
	var list []map[string]any
	jsonOut(t, out, &list)
	if len(list) != 3 {
		t.Fatalf("keys list = %v, want 3 keys", list)
	}
	for _, k := range list {
		if keysOf(k) != "created_at,id,name,prefix,revoked_at,tenant_id" || k["tenant_id"] != tid || k["revoked_at"] != nil {
			t.Errorf("listed key %v", k)
		}
	}
	for _, secret := range []string{tenantKey, ciKey, strings.TrimPrefix(ciKey, "prl_")} {
		if strings.Contains(out, secret) {
			t.Errorf("keys list shows a secret: %s", out)
		}
	}
	if list[1]["name"] != "ci" || list[1]["id"] != ciID || !strings.HasPrefix(ciKey, list[1]["prefix"].(string)) {
		t.Errorf("keys list entry for ci = %v", list[1])
	}

	code, out, errOut = cli(t, "keys", "revoke", ciID)
	if code != 0 || errOut != "" {
		t.Fatalf("keys revoke = %d, stderr %q", code, errOut)
	}
	var revoked map[string]any
	jsonOut(t, out, &revoked)
	if revoked["id"] != ciID || revoked["revoked_at"] == nil {
		t.Errorf("keys revoke printed %v, want the key with revoked_at", revoked)
	}
	_, out, _ = cli(t, "keys", "list", "--tenant", tid)
	jsonOut(t, out, &list)
	if list[1]["revoked_at"] == nil || list[0]["revoked_at"] != nil {
		t.Errorf("after revoke, keys list = %v", list)
	}

	// A server on the same database takes the CLI's keys, not the revoked one.
	s := startServer(t)
	if code, body := s.get(t, tenantKey, "/backend/settings"); code != http.StatusOK || !strings.Contains(body, `"name":"Globex"`) {
		t.Errorf("CLI tenant key = %d %s", code, body)
	}
	if code, _ := s.get(t, ciKey, "/backend/settings"); code != http.StatusUnauthorized {
		t.Errorf("revoked key = %d, want 401", code)
	}
}

func TestCLIBadInput(t *testing.T) {
	setEnv(t, "")
	code, out, _ := cli(t, "tenants", "create", "--name", "Real")
	if code != 0 {
		t.Fatal("tenants create failed")
	}
	var tenant map[string]any
	jsonOut(t, out, &tenant)
	tid := tenant["id"].(string)
	cases := [][]string{
		{"tenants", "create"},
		{"tenants", "create", "--name", "   "},
		{"tenants", "create", "--name"},
		{"tenants", "create", "--name", "X", "extra"},
		{"tenants"},
		{"tenants", "delete"},
		{"keys"},
		{"keys", "create"},
		{"keys", "create", "--tenant", "no-such-tenant"},
		{"keys", "create", "--bogus"},
		{"keys", "list"},
		{"keys", "list", "--tenant", "no-such-tenant"},
		{"keys", "revoke"},
		{"keys", "revoke", "a", "b"},
		{"keys", "revoke", "no-such-key"},
		{"keys", "frobnicate", "--tenant", tid},
		{"frobnicate"},
		{"serve\nnewline"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := cli(t, args...)
			if code == 0 {
				t.Errorf("exit code 0, want non-zero")
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if !strings.HasPrefix(errOut, "parley: ") || strings.Count(errOut, "\n") != 1 || !strings.HasSuffix(errOut, "\n") {
				t.Errorf("stderr %q, want exactly one line starting with \"parley: \"", errOut)
			}
		})
	}
	// Nothing was created by the refused commands.
	_, out, _ = cli(t, "keys", "list", "--tenant", tid)
	var list []any
	jsonOut(t, out, &list)
	if len(list) != 1 {
		t.Errorf("refused commands created keys: %v", list)
	}
}

// TestCLIUsageErrorTouchesNoDatabase: a mistyped command must not create a
// database file where PARLEY_DB points.
func TestCLIUsageErrorTouchesNoDatabase(t *testing.T) {
	db := setEnv(t, "")
	for _, args := range [][]string{{"frobnicate"}, {"keys", "frobnicate"}, {"tenants", "create"}, {"keys", "revoke"}, {"keys", "list"}} {
		if code, _, _ := cli(t, args...); code == 0 {
			t.Fatalf("%v succeeded", args)
		}
		if _, err := os.Stat(db); !os.IsNotExist(err) {
			t.Fatalf("%v created %s (stat err %v)", args, db, err)
		}
	}
}

// TestCLIRevokeWhileServing: a key revoked by the CLI stops working on a
// server running on the same database within 2 s (API.md §7).
func TestCLIRevokeWhileServing(t *testing.T) {
	setEnv(t, "")
	s := startServer(t)
	m := bootstrapLine.FindStringSubmatch(firstLine(s.stderr.String(), "created tenant"))
	if m == nil {
		t.Fatalf("no bootstrap line:\n%s", s.stderr)
	}
	tid, adminKey := m[1], m[2]
	code, out, errOut := cli(t, "keys", "create", "--tenant", tid, "--name", "temp")
	if code != 0 {
		t.Fatalf("keys create while serving = %d %s", code, errOut)
	}
	var key map[string]string
	jsonOut(t, out, &key)
	if code, _ := s.get(t, key["key"], "/backend/settings"); code != http.StatusOK {
		t.Fatalf("a key made by the CLI while serving = %d, want 200", code)
	}
	if code, _, errOut := cli(t, "keys", "revoke", key["id"]); code != 0 {
		t.Fatalf("keys revoke while serving = %d %s", code, errOut)
	}
	revoked := time.Now()
	for {
		code, _ := s.get(t, key["key"], "/backend/settings")
		if code == http.StatusUnauthorized {
			break
		}
		if time.Since(revoked) > 2500*time.Millisecond {
			t.Fatalf("revoked key still answers %d after %v", code, time.Since(revoked))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("revoked key refused after %v", time.Since(revoked).Round(time.Millisecond))
	if code, _ := s.get(t, adminKey, "/backend/settings"); code != http.StatusOK {
		t.Errorf("the other key = %d after revoking one", code)
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("serve exit code = %d", code)
	}
}

func firstLine(text, containing string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, containing) {
			return l
		}
	}
	return ""
}
