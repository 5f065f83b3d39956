package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's Chromium; CI installs it (.ci/run).
const chromiumPath = "/usr/bin/chromium"

// waitFor is how long a step may take to show up in the page.
const waitFor = 10 * time.Second

// browser is one headless Chromium tab on the inbox, with what the page
// reported on the side: console errors, dialogs and stream requests.
type browser struct {
	t     *testing.T
	ctx   context.Context
	shots string

	mu       sync.Mutex
	problems []string // uncaught exceptions, CSP violations, dialogs
	streams  []string // URLs of /backend/conversations/stream requests, and Last-Event-ID headers sent
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("the browser test needs Chromium at %s (Debian: apt-get install chromium; .ci/run installs it)", chromiumPath)
	}
	shots := os.Getenv("PARLEY_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, shots: shots}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		wg.Wait()
	})
	start, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // starts the browser, bound to ctx (no timeout)
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	if _, err := chromedp.Call(start, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	console := chromedp.Console(ctx)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	requests := chromedp.Events(ctx, network.RequestWillBeSent)
	extra := chromedp.Events(ctx, network.RequestWillBeSentExtraInfo)
	wg.Go(func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				b.note("console %s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1)
			}
		}
	})
	wg.Go(func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.note("a dialog opened (%s): %q", ev.Type, ev.Message)
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	})
	wg.Go(func() {
		for ev, err := range requests {
			if err != nil {
				return
			}
			if strings.Contains(ev.Request.URL, "/backend/conversations/stream") {
				b.mu.Lock()
				b.streams = append(b.streams, ev.Request.URL)
				b.mu.Unlock()
			}
		}
	})
	wg.Go(func() { // the headers as sent: EventSource's own Last-Event-ID is only here
		for ev, err := range extra {
			if err != nil {
				return
			}
			for k, v := range ev.Headers {
				if strings.EqualFold(k, "Last-Event-ID") {
					b.mu.Lock()
					b.streams = append(b.streams, fmt.Sprintf("Last-Event-ID: %v", v))
					b.mu.Unlock()
				}
			}
		}
	})
	return b
}

func (b *browser) note(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, fmt.Sprintf(format, args...))
}

// checkProblems fails the test if the page threw, broke its CSP or opened a dialog.
func (b *browser) checkProblems() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("page problem: %s", p)
	}
	b.problems = nil
}

// do runs actions, failing the test (with a screenshot) on error.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitFor)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail("%s: %v", what, err)
	}
}

// js evaluates an expression and decodes its value into T.
func js[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitFor)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail("evaluate %s: %v", expr, err)
	}
	return v
}

// wait polls a JavaScript condition until it holds.
func (b *browser) wait(what, cond string) { b.t.Helper(); b.waitUpTo(waitFor, what, cond) }

func (b *browser) waitUpTo(d time.Duration, what, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, waitFor)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!(`+cond+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.fail("%s: not seen within %v (condition %s; last error %v)", what, d, cond, err)
		}
		time.Sleep(40 * time.Millisecond)
	}
}

// eventually polls a Go condition until it holds.
func (b *browser) eventually(d time.Duration, what string, cond func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			b.fail("%s: not seen within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shot saves a screenshot of the viewport and logs where.
func (b *browser) shot(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitFor)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
	return path
}

// fail stops the test with what the page showed.
func (b *browser) fail(format string, args ...any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
		conn: document.body.dataset.conn, view: document.body.dataset.view, hash: location.hash,
		banner: document.querySelector('#conn-banner')?.textContent,
		toast: document.querySelector('#toast')?.textContent,
		list: [...document.querySelectorAll('#conv-list li')].map(li => li.textContent),
		messages: [...document.querySelectorAll('#messages li')].map(li => li.dataset.role + ': ' + li.textContent)}, null, 1)`))
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		path := filepath.Join(b.shots, "failure.png")
		os.WriteFile(path, png, 0o644)
		b.t.Logf("failure screenshot: %s", path)
	}
	b.mu.Lock()
	b.t.Logf("page problems: %q\nstream requests: %q", b.problems, b.streams)
	b.mu.Unlock()
	b.t.Fatalf(format+"\npage state: %s", append(args, state)...)
}

// osNetwork tells the page what the OS says about the network: offline sets
// navigator.onLine to false and fires "offline", and DevTools fails the
// page's new requests; online undoes both (and fires "online").
func (b *browser) osNetwork(offline bool) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitFor)
	defer cancel()
	rules := []*network.Conditions{}
	if offline {
		rules = append(rules, &network.Conditions{Offline: true, DownloadThroughput: -1, UploadThroughput: -1})
	}
	if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule,
		network.EmulateNetworkConditionsByRuleParams{MatchedNetworkConditions: rules}); err != nil {
		b.fail("emulate network conditions: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{
		Offline: offline, DownloadThroughput: -1, UploadThroughput: -1}); err != nil {
		b.fail("override network state: %v", err)
	}
}

// streamURLs returns the stream requests the page made so far.
func (b *browser) streamURLs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.streams...)
}

// q quotes a Go string as a JavaScript string literal.
func q(s string) string {
	j, _ := json.Marshal(s)
	return string(j)
}

// row is the list link of a conversation.
func row(id string) string { return `document.querySelector('[data-conversation-id=` + q(id) + `]')` }

// msgWith is a message element of the open conversation with this role whose text is exactly text.
func msgWith(role, text string) string {
	return `[...document.querySelectorAll('#messages li[data-role=` + q(role) + `] .text')].find(e => e.textContent === ` + q(text) + `)`
}

func TestInboxInABrowser(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t)
	const lead = "5511999999999@s.whatsapp.net"
	const hello = "Olá, gostaria de saber mais sobre o produto"

	// Sign in: a wrong key is refused, the right one opens the live inbox.
	b.do("open the inbox", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(s.Link.URL+"/"))
	b.wait("the sign-in form", `!document.querySelector('#signin').hidden && document.activeElement.id === 'key-input'`)
	b.shot("desktop-signin")
	b.do("sign in with a wrong key", chromedp.SendKeys(chromedp.ID("key-input"), "prl_not-a-key"), chromedp.Click(chromedp.ID("signin-btn")))
	b.wait("the refusal", `/not accepted/.test(document.querySelector('#signin-error').textContent)`)
	b.do("sign in", chromedp.Evaluate[chromedp.Void](`document.querySelector('#key-input').value = ''`),
		chromedp.SendKeys(chromedp.ID("key-input"), s.Key+"\n"))
	b.wait("the live, empty inbox", `document.body.dataset.conn === 'live' && !document.querySelector('#app').hidden &&
		/No conversations yet/.test(document.querySelector('#list-note').textContent)`)
	if got := js[string](b, `sessionStorage.getItem('parley.apiKey')`); got != s.Key {
		t.Errorf("sessionStorage key = %q, want the API key", got)
	}
	if got := js[string](b, `document.querySelector('#tenant-name').textContent`); got != "Acme Solar" {
		t.Errorf("tenant name = %q", got)
	}
	js[bool](b, `window.__sameDocument = true`) // gone if anything reloads the page

	// A lead writes: the conversation appears live, with the AI's answer as its last message.
	res := s.process(lead, hello, nil)
	conv := res["conversation_id"].(string)
	b.wait("the new conversation in the list", row(conv)+` && /You said: Olá/.test(`+row(conv)+`.textContent)`)
	s.call(http.MethodPost, "/backend/leads", map[string]any{"id": "ana@web", "name": "Ana Souza", "phone": "+55 11 98888-7777"})
	ana := s.process("ana@web", "Vocês entregam em Campinas?", nil)["conversation_id"].(string)
	b.wait("a second conversation, on top", `document.querySelector('#conv-list .conv-link').dataset.conversationId === `+q(ana)+
		` && /Ana Souza/.test(`+row(ana)+`.textContent) && `+row(conv)+`.querySelector('.count [aria-hidden]')?.textContent === '1'`)
	if !js[bool](b, `window.__sameDocument === true`) {
		t.Fatal("the page reloaded")
	}

	// Search is client-side over the loaded list.
	b.do("search", chromedp.SendKeys(chromedp.ID("search"), "campinas"))
	b.wait("only Ana", `document.querySelectorAll('#conv-list li').length === 1 && `+row(ana))
	b.do("clear the search", chromedp.Evaluate[chromedp.Void](`(s => { s.value = ''; s.dispatchEvent(new Event('input')) })(document.querySelector('#search'))`))
	b.wait("both again", `document.querySelectorAll('#conv-list li').length === 2`)

	// Open it: the lead's message and the AI's answer; opening marks it read.
	b.do("open the conversation", chromedp.Click(chromedp.CSS(`[data-conversation-id="`+conv+`"]`)))
	b.wait("the messages", msgWith("user", hello)+` && `+msgWith("assistant", "You said: "+hello))
	b.wait("the header", `document.querySelector('#conv-name').textContent === '+5511999999999' &&
		document.querySelector('#conv-sub').textContent === '5511999999999@s.whatsapp.net' &&
		document.querySelector('#ai-toggle').getAttribute('aria-pressed') === 'true'`)
	b.wait("unread cleared", `!`+row(conv)+`.querySelector('.count')`)
	if n := s.conversation(conv)["unread_count"]; n != 0.0 {
		t.Errorf("unread_count after opening = %v, want 0", n)
	}

	// Media: an image, a PDF with its extracted text, a voice note; the AI types before each answer.
	done := make(chan map[string]any, 1)
	go func() {
		done <- s.process(lead, "Foto do telhado", map[string]any{"message_type": "image", "url": s.Media + "/photo.png"})
	}()
	b.wait("the AI typing", `!document.querySelector('#typing').hidden && /AI is typing/.test(document.querySelector('#typing').textContent)`)
	<-done
	s.process(lead, "", map[string]any{"message_type": "pdf", "url": s.Media + "/price-list.pdf"})
	s.process(lead, "", map[string]any{"message_type": "audio", "url": s.Media + "/voice.wav"})
	b.wait("the image", `[...document.querySelectorAll('#messages img')].some(i => i.src === `+q(s.Media+"/photo.png")+` && i.complete && i.naturalWidth === 480)`)
	b.wait("the PDF link and its text", `document.querySelector('#messages a.media-doc[href=`+q(s.Media+"/price-list.pdf")+`]') &&
		[...document.querySelectorAll('#messages details.extracted')].some(d => d.textContent.includes(`+q(pdfText)+`))`)
	b.wait("the audio player", `document.querySelector('#messages audio[controls][src=`+q(s.Media+"/voice.wav")+`]') &&
		[...document.querySelectorAll('#messages details.extracted')].some(d => /no transcription/.test(d.textContent))`)
	b.wait("the typing indicator gone", `document.querySelector('#typing').hidden`)
	b.do("open the PDF's text", chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#messages details.extracted')].find(d => d.textContent.includes(`+q(pdfText)+`)).open = true`))
	b.wait("the new messages marked read, since the conversation is open", `document.querySelector('#read-btn').textContent === 'Read' && !`+row(conv)+`.querySelector('.count')`)
	if n := s.conversation(conv)["unread_count"]; n != 0.0 {
		t.Errorf("unread_count with the conversation open = %v, want 0", n)
	}
	b.do("show the image", chromedp.Evaluate[chromedp.Void](`document.querySelector('#messages img').scrollIntoView({block: 'start'})`))
	b.shot("desktop-conversation")

	// Pause the AI from the header.
	b.do("pause the AI", chromedp.Click(chromedp.ID("ai-toggle")))
	b.wait("the paused control", `document.querySelector('#ai-toggle').getAttribute('aria-pressed') === 'false' &&
		document.querySelector('#ai-toggle').textContent === 'AI paused' && /AI paused/.test(`+row(conv)+`.textContent)`)
	if on := s.conversation(conv)["is_ai_active"]; on != false {
		t.Errorf("is_ai_active after pausing = %v, want false", on)
	}

	// An operator message from the composer: in the conversation and as the list's last message.
	const reply = "Aqui é a Maria, posso ajudar?"
	b.do("write a reply", chromedp.SendKeys(chromedp.ID("composer-input"), reply), chromedp.Click(chromedp.ID("send")))
	b.wait("the reply", msgWith("human", reply)+` && `+row(conv)+`.querySelector('.preview').textContent === 'Operator: `+reply+`' &&
		document.querySelector('#composer-input').value === ''`)

	// Markup in a message is text.
	const xss = `<script>window.__xss=1</script><img src=x onerror="window.__xss=2"> <b>bold?</b>`
	s.process(lead, xss, nil)
	b.wait("the literal message", msgWith("user", xss))
	if js[bool](b, `window.__xss !== undefined || document.querySelectorAll('#messages script, #messages b, #messages img[src="x"]').length > 0`) {
		t.Error("a message's markup became elements")
	}
	if got := js[string](b, `document.querySelector('#conv-list [data-conversation-id=`+q(conv)+`] .preview').textContent`); got != strings.Join(strings.Fields(xss), " ") {
		t.Errorf("list preview = %q, want the markup as text", got)
	}
	b.wait("read", `document.querySelector('#read-btn').textContent === 'Read'`)
	b.do("back to the list", chromedp.Evaluate[chromedp.Void](`location.hash = '#/'`))
	b.wait("no conversation open", `!document.querySelector('#conv-empty').hidden && document.body.dataset.conn === 'live'`)
	b.shot("desktop-list")
	b.do("open it again", chromedp.Click(chromedp.CSS(`[data-conversation-id="`+conv+`"]`)))
	b.wait("the conversation", `document.querySelector('#conv-empty').hidden && `+msgWith("human", reply))

	// A real network drop (the link to the server is cut): the banner shows,
	// the browser reconnects by itself with Last-Event-ID once the link is
	// back, and the messages sent meanwhile appear.
	before := len(b.streamURLs())
	s.Link.Cut()
	b.wait("the disconnected banner", `!document.querySelector('#conn-banner').hidden && document.body.dataset.conn === 'reconnecting'`)
	s.process(lead, "Vocês ainda estão aí?", nil)
	s.call(http.MethodPost, "/backend/messages/send", map[string]any{"lead_id": lead, "content": "Sim! Um instante."})
	time.Sleep(300 * time.Millisecond)
	if js[bool](b, msgWith("user", "Vocês ainda estão aí?")+` !== undefined`) {
		t.Fatal("a message arrived while the link was cut")
	}
	b.do("scroll to the end", chromedp.Evaluate[chromedp.Void](`document.querySelector('#scroller').scrollTop = 1e9`))
	b.shot("desktop-disconnected")
	s.Link.Restore()
	b.waitUpTo(15*time.Second, "the missed messages after the reconnection", msgWith("user", "Vocês ainda estão aí?")+` && `+
		msgWith("human", "Sim! Um instante.")+` && document.querySelector('#conn-banner').hidden && document.body.dataset.conn === 'live'`)
	resumed := false
	for _, u := range b.streamURLs()[before:] {
		resumed = resumed || strings.Contains(u, "Last-Event-ID") || strings.Contains(u, "last_event_id=")
	}
	if !resumed {
		t.Errorf("no stream request resumed from an event id after the drop: %q", b.streamURLs()[before:])
	}

	// The server refuses the stream (503): EventSource gives up, and the app
	// reconnects itself, with backoff, from ?last_event_id, then refetches.
	before = len(b.streamURLs())
	s.Link.Unavailable()
	b.wait("the disconnected banner", `document.body.dataset.conn === 'reconnecting'`)
	s.process(lead, "Alguém me responde?", nil)
	b.eventually(15*time.Second, "the app's own reconnection attempt, after the browser gave up", func() bool {
		for _, u := range b.streamURLs()[before:] {
			if strings.Contains(u, "last_event_id=") {
				return true
			}
		}
		return false
	})
	s.Link.Restore()
	b.waitUpTo(15*time.Second, "the missed message after the app reconnected", msgWith("user", "Alguém me responde?")+
		` && document.body.dataset.conn === 'live' && document.querySelector('#conn-banner').hidden`)

	// The OS reports the network gone: the app closes the stream, says it is
	// offline, and on "online" reconnects itself with ?last_event_id and
	// refetches the list and the conversation.
	before = len(b.streamURLs())
	s.Link.Cut()
	b.osNetwork(true)
	b.wait("the offline banner", `document.body.dataset.conn === 'offline' && /offline/.test(document.querySelector('#conn-banner').textContent)`)
	s.process(lead, "Última pergunta: tem garantia?", nil)
	s.call(http.MethodPut, "/backend/conversations/"+conv, map[string]any{"is_ai_active": true})
	s.Link.Restore()
	b.osNetwork(false)
	b.wait("the missed message and the AI back on", msgWith("user", "Última pergunta: tem garantia?")+` &&
		document.querySelector('#ai-toggle').getAttribute('aria-pressed') === 'true' && document.body.dataset.conn === 'live' &&
		document.querySelector('#conn-banner').hidden && !/AI paused/.test(`+row(conv)+`.textContent)`)
	manual := false
	for _, u := range b.streamURLs()[before:] {
		manual = manual || strings.Contains(u, "last_event_id=")
	}
	if !manual {
		t.Errorf("no stream request with last_event_id after going online: %q", b.streamURLs()[before:])
	}

	// Phone width: one pane at a time, with a back link.
	b.wait("read", `document.querySelector('#read-btn').textContent === 'Read' && !`+row(conv)+`.querySelector('.count')`)
	b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.wait("the conversation alone", `getComputedStyle(document.querySelector('#list-pane')).display === 'none' &&
		getComputedStyle(document.querySelector('#conv-back')).display !== 'none'`)
	b.do("scroll to the end", chromedp.Evaluate[chromedp.Void](`document.querySelector('#scroller').scrollTop = 1e9`))
	b.shot("phone-conversation")
	b.do("go back", chromedp.Click(chromedp.ID("conv-back")))
	b.wait("the list alone", `getComputedStyle(document.querySelector('#conv-pane')).display === 'none' &&
		getComputedStyle(document.querySelector('#list-pane')).display !== 'none' && location.hash === '#/'`)
	b.shot("phone-list")
	b.do("desktop viewport", chromedp.EmulateViewport(1280, 800))

	// Archive: the conversation leaves the Active list, is under Archived, and comes back.
	b.do("open the conversation", chromedp.Click(chromedp.CSS(`[data-conversation-id="`+conv+`"]`)))
	b.wait("the conversation", `document.querySelector('#conv-empty').hidden && `+msgWith("human", reply))
	b.do("archive", chromedp.Click(chromedp.ID("archive-toggle")))
	b.wait("archived", `document.querySelector('#archive-toggle').textContent === 'Unarchive' &&
		document.querySelector('#composer-input').disabled && !`+row(conv))
	if st := s.conversation(conv)["status"]; st != "archived" {
		t.Errorf("status after archiving = %v", st)
	}
	showStatus := func(v string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](`(f => { f.value = ` + q(v) + `; f.dispatchEvent(new Event('change')) })(document.querySelector('#status-filter'))`)
	}
	b.do("show archived", showStatus("archived"))
	b.wait("the archived list", row(conv)+` && !`+row(ana)+` && /Archived/.test(`+row(conv)+`.textContent)`)
	b.do("unarchive", chromedp.Click(chromedp.ID("archive-toggle")))
	b.wait("unarchived", `document.querySelector('#archive-toggle').textContent === 'Archive' &&
		!document.querySelector('#composer-input').disabled && !`+row(conv))
	b.do("show active", showStatus("active"))
	b.wait("the active list", row(conv)+` && `+row(ana))

	// A long history: the newest page (up to 50 messages: a page never ends
	// inside a millisecond, so it may hold a few fewer), then "Load older"
	// pages back to the first message.
	s.call(http.MethodPost, "/backend/leads", map[string]any{"id": "history@test", "name": "Long History"})
	for i := range 60 {
		s.call(http.MethodPost, "/backend/messages/send", map[string]any{"lead_id": "history@test", "content": fmt.Sprintf("Histórico %02d", i+1)})
	}
	hist := s.call(http.MethodGet, "/backend/conversations?lead_id=history@test", nil)["data"].([]any)[0].(map[string]any)["id"].(string)
	b.wait("the new conversation", row(hist)+` && /Histórico 60/.test(`+row(hist)+`.textContent)`)
	b.do("open the history", chromedp.Click(chromedp.CSS(`[data-conversation-id="`+hist+`"]`)))
	first := `document.querySelector('#messages li .text')?.textContent`
	last := `[...document.querySelectorAll('#messages li .text')].pop()?.textContent`
	b.wait("the newest page", `document.querySelectorAll('#messages li').length >= 40 && document.querySelectorAll('#messages li').length <= 50 &&
		!document.querySelector('#load-older').hidden && `+first+` !== 'Histórico 01' && `+last+` === 'Histórico 60'`)
	b.do("load older", chromedp.Click(chromedp.ID("load-older")))
	b.wait("the whole history", `document.querySelectorAll('#messages li').length === 60 && document.querySelector('#load-older').hidden && `+first+` === 'Histórico 01'`)

	// Sign out forgets the key and closes the stream.
	b.do("sign out", chromedp.Click(chromedp.ID("signout")))
	b.wait("the sign-in form", `!document.querySelector('#signin').hidden && document.querySelector('#app').hidden &&
		sessionStorage.getItem('parley.apiKey') === null && document.body.dataset.conn === 'idle'`)
	if !js[bool](b, `window.__sameDocument === true`) {
		t.Error("the page reloaded during the test")
	}
	b.checkProblems()
}
