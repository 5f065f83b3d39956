package ai

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeRules(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBuiltinAnswers(t *testing.T) {
	rules := writeRules(t, `[
		{"match": "(?i)price", "reply": "Our plans start at $10."},
		{"match": "(?i)\\b(hello|hi)\\b", "reply": "Hello! You wrote {{text}}"},
		{"match": "(?i)price|hello", "reply": "never used: earlier rules win"}
	]`)
	b, err := NewBuiltin(BuiltinConfig{RulesFile: rules})
	if err != nil {
		t.Fatal(err)
	}
	custom, err := NewBuiltin(BuiltinConfig{Reply: "Echo <{{text}}> ({{text}})"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		p    *Builtin
		req  Request
		want string
	}{
		{"first rule", b, Request{UserText: "what is the PRICE? hello"}, "Our plans start at $10."},
		{"second rule", b, Request{UserText: "hello there"}, "Hello! You wrote hello there"},
		{"default template", b, Request{UserText: "nothing matches"}, "You said: nothing matches"},
		{"batched text", b, Request{UserText: "first\nsecond"}, "You said: first\nsecond"},
		{"custom template", custom, Request{UserText: "ok"}, "Echo <ok> (ok)"},
		{"falls back to last user turn", custom, Request{Turns: []Turn{
			{Role: RoleUser, Text: "old"}, {Role: RoleUser, Text: "new"}, {Role: RoleAssistant, Text: "x"},
		}}, "Echo <new> (new)"},
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.p.Complete(ctx, c.req)
			if err != nil || got != c.want {
				t.Fatalf("Complete = %q, %v; want %q", got, err, c.want)
			}
			again, _ := c.p.Complete(ctx, c.req)
			if again != got {
				t.Fatalf("not deterministic: %q then %q", got, again)
			}
			var tokens []string
			streamed, err := c.p.Stream(ctx, c.req, func(tok string) error {
				tokens = append(tokens, tok)
				return nil
			})
			if err != nil || streamed != c.want || strings.Join(tokens, "") != c.want {
				t.Fatalf("Stream = %q (tokens %q), %v; want %q", streamed, tokens, err, c.want)
			}
			if len(strings.Fields(c.want)) > 1 && len(tokens) < 2 {
				t.Fatalf("a multi-word answer came as %d token(s)", len(tokens))
			}
		})
	}
}

func TestSplitWords(t *testing.T) {
	cases := map[string][]string{
		"":                   nil,
		"one":                {"one"},
		"You said: hi there": {"You ", "said: ", "hi ", "there"},
		"  lead  and trail ": {"  lead  ", "and ", "trail "},
		"line\nbreak\n\nend": {"line\n", "break\n\n", "end"},
		"   ":                {"   "},
		"olá, ação 😀 ok":     {"olá, ", "ação ", "😀 ", "ok"},
	}
	for in, want := range cases {
		got := SplitWords(in)
		if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("SplitWords(%q) = %q, want %q", in, got, want)
		}
		if strings.Join(got, "") != in {
			t.Errorf("SplitWords(%q) tokens do not concatenate back", in)
		}
	}
}

func TestBuiltinDelaysRespectContext(t *testing.T) {
	req := Request{UserText: "one two three four five"}

	t.Run("delay", func(t *testing.T) {
		b, _ := NewBuiltin(BuiltinConfig{Delay: 10 * time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		got, err := b.Stream(ctx, req, func(string) error { return nil })
		if !errors.Is(err, context.DeadlineExceeded) || got != "" {
			t.Fatalf("Stream = %q, %v; want empty text and DeadlineExceeded", got, err)
		}
		if time.Since(start) > 2*time.Second {
			t.Fatal("Stream did not return promptly")
		}
		if _, err := b.Complete(ctx, req); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Complete error = %v", err)
		}
	})

	t.Run("token delay", func(t *testing.T) {
		b, _ := NewBuiltin(BuiltinConfig{TokenDelay: 10 * time.Second})
		ctx, cancel := context.WithCancelCause(context.Background())
		defer cancel(nil)
		superseded := errors.New("superseded by a newer message")
		var tokens []string
		done := make(chan struct{})
		var got string
		var err error
		go func() {
			defer close(done)
			got, err = b.Stream(ctx, req, func(tok string) error {
				tokens = append(tokens, tok)
				return nil
			})
		}()
		time.Sleep(50 * time.Millisecond)
		cancel(superseded)
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatal("Stream did not return promptly after cancel")
		}
		if !errors.Is(err, superseded) {
			t.Fatalf("error = %v, want the context's cause", err)
		}
		if got != "You " || strings.Join(tokens, "") != got {
			t.Fatalf("partial text = %q (tokens %q), want %q", got, tokens, "You ")
		}
	})

	t.Run("onToken error stops", func(t *testing.T) {
		b, _ := NewBuiltin(BuiltinConfig{})
		stop := errors.New("client went away")
		n := 0
		got, err := b.Stream(context.Background(), req, func(string) error {
			n++
			if n == 3 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || got != "You said: " {
			t.Fatalf("Stream = %q, %v; want %q and the onToken error", got, err, "You said: ")
		}
	})

	t.Run("delays are waited", func(t *testing.T) {
		b, _ := NewBuiltin(BuiltinConfig{Delay: 30 * time.Millisecond, TokenDelay: 10 * time.Millisecond})
		start := time.Now()
		if _, err := b.Complete(context.Background(), Request{UserText: "a b"}); err != nil {
			t.Fatal(err)
		}
		// "You said: a b" is 4 words: Delay + 3 TokenDelays.
		if d := time.Since(start); d < 60*time.Millisecond {
			t.Fatalf("answered after %v, want at least 60ms", d)
		}
	})
}

func TestBuiltinTranscribe(t *testing.T) {
	b, _ := NewBuiltin(BuiltinConfig{})
	if _, err := b.Transcribe(context.Background(), Audio{Data: []byte("OggS")}); !errors.Is(err, ErrNoTranscription) {
		t.Fatalf("Transcribe error = %v, want ErrNoTranscription", err)
	}
}

func TestBuiltinBadRulesFile(t *testing.T) {
	cases := []struct {
		name, content, want string
	}{
		{"bad json", `[{"match": "a", "reply": }]`, "invalid JSON"},
		{"not an array", `{"match": "a", "reply": "b"}`, "JSON array"},
		{"empty file", ``, "JSON array"},
		{"empty match", `[{"match": "a", "reply": "x"}, {"match": "", "reply": "y"}]`, "rules[1]"},
		{"missing match", `[{"reply": "y"}]`, `rules[0]: "match" is required`},
		{"bad regexp", `[{"match": "ok", "reply": "x"}, {"match": "ok", "reply": "x"}, {"match": "(unclosed", "reply": "y"}]`, "rules[2]: invalid \"match\" regexp"},
		{"unknown field", `[{"match": "a", "reponse": "typo"}]`, "rules[0]"},
		{"wrong type", `[{"match": 42, "reply": "x"}]`, "rules[0]"},
		{"null entry", `[null]`, "rules[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewBuiltin(BuiltinConfig{RulesFile: writeRules(t, c.content)})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want it to mention %q", err, c.want)
			}
		})
	}
	if _, err := NewBuiltin(BuiltinConfig{RulesFile: filepath.Join(t.TempDir(), "missing.json")}); err == nil {
		t.Fatal("a missing rules file must be an error")
	}
	if rules, err := ParseRules([]byte(" [ ] ")); err != nil || len(rules) != 0 {
		t.Fatalf("empty array: %v, %v", rules, err)
	}
}

func FuzzParseRules(f *testing.F) {
	for _, seed := range []string{
		`[]`,
		`[{"match":"(?i)hello","reply":"Hi {{text}}"}]`,
		`[{"match":"a","reply":"b"},{"match":"^$","reply":""}]`,
		`[{"match":"(unclosed","reply":"x"}]`,
		`[{"match":"","reply":"x"}]`,
		`[{"match":"a","extra":1}]`,
		`[null, 1, "x"]`,
		`{"match":"a"}`,
		`null`,
		``,
		`[{"match":"\u0000\\p{L}+","reply":"\ud800"}]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, err := ParseRules(data)
		if err != nil {
			if rules != nil {
				t.Fatal("rules returned with an error")
			}
			return
		}
		b := &Builtin{rules: rules, reply: DefaultBuiltinReply}
		for _, r := range rules {
			if r.Match == "" || r.re == nil {
				t.Fatalf("invalid rule accepted: %+v", r)
			}
		}
		answer := b.Answer(Request{UserText: string(data)})
		if strings.Join(SplitWords(answer), "") != answer {
			t.Fatal("tokens do not concatenate to the answer")
		}
	})
}
