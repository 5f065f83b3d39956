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
