package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestServerReportsTheAIQueue: the served binary, with PARLEY_AI_CONCURRENCY
// set, reports its AI queue on /metrics: after one turn, one wait observed
// and nothing left waiting or running.
func TestServerReportsTheAIQueue(t *testing.T) {
	const key = "prl_ai-queue-metrics-0123456789abcdef"
	setEnv(t, "")
	t.Setenv("PARLEY_BOOTSTRAP_API_KEY", key)
	t.Setenv("PARLEY_AI_CONCURRENCY", "2")
	s := startServer(t)
	_, body := s.get(t, key, "/backend/settings")
	var settings struct {
		Data struct {
			TenantID string `json:"tenant_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &settings); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, s.url+"/ai/process", strings.NewReader(`{"tenant_id":"`+
		settings.Data.TenantID+`","lead_id":"lead-1","role":"user","content":"oi","message_type":"text"}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/ai/process = %d", res.StatusCode)
	}
	code, metrics := s.get(t, "", "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{"parley_ai_queue_depth 0\n", "parley_ai_inflight 0\n", "parley_ai_queue_wait_seconds_count 1\n"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}
}
