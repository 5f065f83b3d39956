package main

import (
	"strings"
	"testing"
)

func TestAIConcurrencyDefaultAndValidation(t *testing.T) {
	setEnv(t, "")
	c, err := loadConfig()
	if err != nil || c.AIConcurrency != 32 {
		t.Fatalf("default: AIConcurrency = %d, err %v; want 32", c.AIConcurrency, err)
	}
	for _, v := range []string{"0", "-3"} {
		t.Setenv("PARLEY_AI_CONCURRENCY", v)
		if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "PARLEY_AI_CONCURRENCY") {
			t.Errorf("PARLEY_AI_CONCURRENCY=%s: err = %v, want one naming the variable", v, err)
		}
	}
	t.Setenv("PARLEY_AI_CONCURRENCY", "4")
	if c, err := loadConfig(); err != nil || c.AIConcurrency != 4 {
		t.Fatalf("PARLEY_AI_CONCURRENCY=4: %d, %v", c.AIConcurrency, err)
	}
}

// TestHardeningSettings: the hardening variables' defaults, and bad values
// refused with an error naming the variable.
func TestHardeningSettings(t *testing.T) {
	setEnv(t, "")
	c, err := loadConfig()
	if err != nil || c.AuthFailuresPerMinute != 30 || c.MaxStreamsPerTenant != 1000 || c.BodyTimeout.String() != "30s" ||
		len(c.TrustedProxies) != 0 {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	bad := []struct{ name, value string }{
		{"PARLEY_AUTH_FAILURES_PER_MINUTE", "-1"},
		{"PARLEY_MAX_STREAMS_PER_TENANT", "0"},
		{"PARLEY_BODY_TIMEOUT", "0s"},
		{"PARLEY_TRUSTED_PROXIES", "10.0.0.0/8,not-an-ip"},
		{"PARLEY_DATABASE_URL", "mysql://root@localhost/parley"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			t.Setenv(b.name, b.value)
			if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), b.name) {
				t.Errorf("%s=%s: err = %v, want one naming the variable", b.name, b.value, err)
			}
		})
	}
	t.Setenv("PARLEY_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1,2001:db8::1")
	c, err = loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	nets, err := c.trustedNets()
	if err != nil || len(nets) != 3 || nets[1].String() != "192.0.2.1/32" || nets[2].String() != "2001:db8::1/128" {
		t.Errorf("trusted proxies = %v, %v", nets, err)
	}
}
