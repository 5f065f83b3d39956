package ui

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestLeadNames runs the inbox's own leadName (static/assets/dom.js) in
// Node: anonymous leads (no name, no phone, an id the server made) get a
// friendly name instead of a raw UUID. It skips where Node is missing; the
// browser test shows the same names in Chromium.
func TestLeadNames(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("needs Node to run the inbox's modules")
	}
	const visitor = "01a24307-a61d-7c5d-83fe-ef9cbdbc54b6"
	cases := []struct {
		name string
		conv map[string]any
		want string
	}{
		{"name", map[string]any{"lead": map[string]any{"id": visitor, "name": "Ana", "phone": "+55"}}, "Ana"},
		{"phone", map[string]any{"lead": map[string]any{"id": visitor, "phone": "+5511988887777"}}, "+5511988887777"},
		{"anonymous", map[string]any{"lead": map[string]any{"id": visitor}}, "Visitor 54b6"},
		{"anonymous, id only on the conversation", map[string]any{"lead_id": visitor}, "Visitor 54b6"},
		{"meta name", map[string]any{"lead": map[string]any{"id": visitor}, "meta": map[string]any{"name": " Joana "}}, "Joana"},
		{"meta nome", map[string]any{"lead": map[string]any{"id": visitor}, "meta": map[string]any{"nome": "João"}}, "João"},
		{"meta name that is no text", map[string]any{"lead": map[string]any{"id": visitor}, "meta": map[string]any{"name": 5}}, "Visitor 54b6"},
		{"lead name beats meta", map[string]any{"lead": map[string]any{"id": visitor, "name": "Ana"}, "meta": map[string]any{"name": "x"}}, "Ana"},
		{"WhatsApp JID", map[string]any{"lead": map[string]any{"id": "5511999999999@s.whatsapp.net"}}, "+5511999999999"},
		{"own id", map[string]any{"lead": map[string]any{"id": "crm-42"}}, "crm-42"},
		{"nothing", map[string]any{}, "Unknown lead"},
	}
	convs := make([]map[string]any, len(cases))
	for i, c := range cases {
		convs[i] = c.conv
	}
	in, _ := json.Marshal(convs)
	dom, err := filepath.Abs(filepath.Join("static", "assets", "dom.js"))
	if err != nil {
		t.Fatal(err)
	}
	script := `import { leadName } from ` + jsString("file://"+filepath.ToSlash(dom)) + `;
let s = ''; for await (const b of process.stdin) s += b;
process.stdout.write(JSON.stringify(JSON.parse(s).map(leadName)));`
	cmd := exec.Command(node, "--input-type=module", "-e", script)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(cases) {
		t.Fatalf("node printed %q (%v)", out, err)
	}
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%s: leadName = %q, want %q", c.name, got[i], c.want)
		}
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
