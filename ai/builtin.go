package ai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// DefaultBuiltinReply is the builtin provider's reply template when none is
// configured (PARLEY_BUILTIN_REPLY).
const DefaultBuiltinReply = "You said: {{text}}"

// textPlaceholder is replaced by Request.UserText in replies.
const textPlaceholder = "{{text}}"

// BuiltinConfig configures [NewBuiltin].
type BuiltinConfig struct {
	// RulesFile is the path of a JSON rules file (see [ParseRules]); empty
	// means no rules.
	RulesFile string
	// Reply is the reply template used when no rule matches; empty means
	// DefaultBuiltinReply.
	Reply string
	// Delay is waited before answering.
	Delay time.Duration
	// TokenDelay is waited between two streamed words.
	TokenDelay time.Duration
}

// Rule is one entry of the builtin rules file: when Match (a Go regexp)
// matches the user text, the answer is Reply.
type Rule struct {
	Match string `json:"match"`
	Reply string `json:"reply"`

	re *regexp.Regexp
}

// ParseRules parses and validates a rules file:
// a JSON array of {"match":"<regexp>","reply":"<text>"} objects. It fails,
// naming the rule's index, on malformed JSON, an unknown field, an empty or
// invalid match. An empty array is valid.
func ParseRules(data []byte) ([]Rule, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '[' {
		return nil, fmt.Errorf("ai: rules: the file must be a JSON array of {\"match\",\"reply\"} objects")
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return nil, fmt.Errorf("ai: rules: invalid JSON: %w", err)
	}
	rules := make([]Rule, 0, len(raw))
	for i, r := range raw {
		var rule Rule
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rule); err != nil {
			return nil, fmt.Errorf("ai: rules[%d]: must be an object {\"match\",\"reply\"}: %w", i, err)
		}
		if rule.Match == "" {
			return nil, fmt.Errorf("ai: rules[%d]: \"match\" is required", i)
		}
		re, err := regexp.Compile(rule.Match)
		if err != nil {
			return nil, fmt.Errorf("ai: rules[%d]: invalid \"match\" regexp: %w", i, err)
		}
		rule.re = re
		rules = append(rules, rule)
	}
	return rules, nil
}

// Builtin is the deterministic provider that needs nothing outside the
// binary (API.md §7): the first rule matching the user text wins, else the
// reply template. In both, "{{text}}" is replaced by Request.UserText.
// It streams its answer word by word and cannot transcribe audio.
type Builtin struct {
	rules      []Rule
	reply      string
	delay      time.Duration
	tokenDelay time.Duration
}

var _ Provider = (*Builtin)(nil)

// NewBuiltin returns a builtin provider, reading and validating
// cfg.RulesFile when set.
func NewBuiltin(cfg BuiltinConfig) (*Builtin, error) {
	b := &Builtin{reply: cfg.Reply, delay: cfg.Delay, tokenDelay: cfg.TokenDelay}
	if b.reply == "" {
		b.reply = DefaultBuiltinReply
	}
	if cfg.RulesFile != "" {
		data, err := os.ReadFile(cfg.RulesFile)
		if err != nil {
			return nil, fmt.Errorf("ai: builtin rules file: %w", err)
		}
		rules, err := ParseRules(data)
		if err != nil {
			return nil, fmt.Errorf("%w (file %s)", err, cfg.RulesFile)
		}
		b.rules = rules
	}
	return b, nil
}

// Answer returns the answer to req without any delay.
func (b *Builtin) Answer(req Request) string {
	text := req.UserText
	if text == "" {
		text = lastUserText(req.Turns)
	}
	reply := b.reply
	for _, r := range b.rules {
		if r.re.MatchString(text) {
			reply = r.Reply
			break
		}
	}
	return strings.ReplaceAll(reply, textPlaceholder, text)
}

func lastUserText(turns []Turn) string {
	for i := len(turns) - 1; i >= 0; i-- {
		if turns[i].Role == RoleUser {
			return turns[i].Text
		}
	}
	return ""
}

// Complete returns the answer after the same delays as Stream (Delay, then
// TokenDelay between words), so that a turn takes as long either way. On
// cancellation it returns "" and the context's cause.
func (b *Builtin) Complete(ctx context.Context, req Request) (string, error) {
	text, err := b.Stream(ctx, req, nil)
	if err != nil {
		return "", err
	}
	return text, nil
}

// Stream waits Delay, then calls onToken for each word of the answer (a word
// with its following whitespace, so that the tokens concatenate to the
// answer), waiting TokenDelay between words. On cancellation, or when
// onToken fails, it returns the tokens accepted so far with the error
// (the context's cause, or onToken's error). A nil onToken is allowed.
func (b *Builtin) Stream(ctx context.Context, req Request, onToken func(token string) error) (string, error) {
	if err := sleep(ctx, b.delay); err != nil {
		return "", err
	}
	var out strings.Builder
	for i, tok := range SplitWords(b.Answer(req)) {
		if i > 0 {
			if err := sleep(ctx, b.tokenDelay); err != nil {
				return out.String(), err
			}
		}
		if onToken != nil {
			if err := onToken(tok); err != nil {
				return out.String(), err
			}
		}
		out.WriteString(tok)
	}
	return out.String(), nil
}

// Transcribe always returns ErrNoTranscription.
func (b *Builtin) Transcribe(context.Context, Audio) (string, error) {
	return "", ErrNoTranscription
}

// SplitWords splits s into tokens, each a word followed by its whitespace
// (leading whitespace stays with the first token), so that concatenating
// the tokens gives back s exactly.
func SplitWords(s string) []string {
	var tokens []string
	start := 0
	inSpace := false
	for i, r := range s {
		space := unicode.IsSpace(r)
		if inSpace && !space && start < i && hasWord(s[start:i]) {
			tokens = append(tokens, s[start:i])
			start = i
		}
		inSpace = space
	}
	if start < len(s) {
		tokens = append(tokens, s[start:])
	}
	return tokens
}

func hasWord(s string) bool {
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if !unicode.IsSpace(r) {
			return true
		}
		s = s[n:]
	}
	return false
}

// sleep waits d or until ctx is done, returning the context's cause then.
func sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
