package main

import (
	"net/url"
	"strings"
)

// setupAttrs names the active setup on the start-up line: which AI provider
// answers with which model, and which database, so that a log shows at a
// glance what a server was running against.
func setupAttrs(cfg Config) []any {
	attrs := []any{"db", cfg.databaseName(), "ai_provider", cfg.AIProvider}
	if cfg.AIProvider == "openai" {
		attrs = append(attrs, "ai_model", cfg.OpenAIModel, "ai_base_url", cfg.OpenAIBaseURL)
	}
	return attrs
}

// setupWarnings are the start-up problems worth a warn line: a setup that
// starts fine but whose first AI call will fail.
func setupWarnings(cfg Config) []string {
	var out []string
	if cfg.AIProvider == "openai" && cfg.OpenAIAPIKey == "" && isOpenAIHost(cfg.OpenAIBaseURL) {
		out = append(out, "PARLEY_AI_PROVIDER=openai against api.openai.com without PARLEY_OPENAI_API_KEY: "+
			"every AI call will be refused (401); set the key, or PARLEY_OPENAI_BASE_URL for a local server such as Ollama")
	}
	return out
}

// isOpenAIHost reports whether base is OpenAI's own API, which always needs
// a key (local OpenAI-compatible servers usually do not).
func isOpenAIHost(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	return h == "api.openai.com" || strings.HasSuffix(h, ".openai.com")
}
