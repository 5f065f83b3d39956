package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/parley-dev/parley/web"
)

// cspProbe runs in every document before the page's own scripts (DevTools
// injects it, so the page's CSP does not apply to it) and records each CSP
// violation, including those a script catches and that never reach the
// console.
const cspProbe = `document.addEventListener('securitypolicyviolation', e =>
	(window.__csp = window.__csp || []).push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile + ':' + e.lineNumber))`

// TestDocsInABrowser opens /docs in Chromium with everything but the test
// server blocked: Swagger UI starts from the embedded files, lists every tag
// of openapi.json, filters by tag, and "try it out" on GET /backend/leads with
// a pasted key answers 200 with that key sent as a Bearer token, which is kept
// in no storage. Any request elsewhere, CSP violation or console error fails.
func TestDocsInABrowser(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t)
	origin := s.Link.URL // the browser goes through the link, as in the inbox test

	ctx, cancel := context.WithCancel(b.ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	var mu sync.Mutex
	var elsewhere, consoleErrors, auths []string
	requests := chromedp.Events(ctx, network.RequestWillBeSent)
	console := chromedp.Console(ctx)
	wg.Go(func() {
		for ev, err := range requests {
			if err != nil {
				return
			}
			mu.Lock()
			if u := ev.Request.URL; u != origin && !strings.HasPrefix(u, origin+"/") && !strings.HasPrefix(u, "data:") {
				elsewhere = append(elsewhere, u)
			}
			if strings.Contains(ev.Request.URL, "/backend/leads") {
				auths = append(auths, fmt.Sprint(ev.Request.Headers["Authorization"]))
			}
			mu.Unlock()
		}
	})
	wg.Go(func() {
		for m, err := range console {
			if err != nil {
				return
			}
			// Exceptions and CSP violations are the browser helper's (checkProblems).
			if m.Type == chromedp.ConsoleError && !strings.Contains(m.Text, "Content Security Policy") {
				mu.Lock()
				consoleErrors = append(consoleErrors, fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1))
				mu.Unlock()
			}
		}
	})
	// Offline but for the test server: the browser refuses every other URL.
	allow := &network.BlockPattern{URLPattern: origin + "/*", Block: false}
	if _, err := chromedp.Call(ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{
		URLPatterns: []*network.BlockPattern{allow, {URLPattern: "*://*/*", Block: true}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe}); err != nil {
		t.Fatal(err)
	}

	tags, listLeads := docsTags(t)
	b.do("open /docs", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(origin+"/docs"))
	b.wait("Swagger UI with the document's title", `/Parley/.test(document.querySelector('.info .title')?.textContent)`)
	b.wait("every tag", fmt.Sprintf(`document.querySelectorAll('.opblock-tag-section').length === %d`, len(tags)))
	shown := js[[]string](b, `[...document.querySelectorAll('.opblock-tag')].map(e => e.dataset.tag)`)
	slices.Sort(shown)
	if !slices.Equal(shown, tags) {
		t.Errorf("tags shown = %q, want openapi.json's %q", shown, tags)
	}
	b.shot("docs-overview")

	// Search: the filter box keeps only the tags that match.
	b.do("filter by tag", chromedp.SendKeys(chromedp.CSS(`input.operation-filter-input`), "Leads"))
	b.wait("only the Leads tag", `[...document.querySelectorAll('.opblock-tag')].map(e => e.dataset.tag).join() === 'Leads'`)
	b.do("clear the filter", chromedp.Evaluate[chromedp.Void](`(i => { i.select() })(document.querySelector('input.operation-filter-input'))`),
		chromedp.SendKeys(chromedp.CSS(`input.operation-filter-input`), "\b"))
	b.wait("every tag again", fmt.Sprintf(`document.querySelectorAll('.opblock-tag-section').length === %d`, len(tags)))

	// Authorize with the key the visitor pastes.
	b.do("open Authorize", chromedp.Click(chromedp.CSS(`.auth-wrapper .btn.authorize`)))
	b.wait("the key field", `document.querySelector('.modal-ux .auth-container input')`)
	b.do("paste the key", chromedp.SendKeys(chromedp.CSS(`.modal-ux .auth-container input`), s.Key),
		chromedp.Click(chromedp.CSS(`.modal-ux .auth-btn-wrapper .btn.authorize`)))
	b.wait("authorized", `[...document.querySelectorAll('.modal-ux .auth-btn-wrapper button')].some(e => /Logout/.test(e.textContent))`)
	b.do("close the dialog", chromedp.Click(chromedp.CSS(`.modal-ux .btn-done`)))
	b.wait("the dialog closed", `!document.querySelector('.modal-ux')`)

	// Try it: GET /backend/leads with that key.
	op := `#operations-Leads-` + listLeads
	b.do("open GET /backend/leads", chromedp.ScrollIntoView(chromedp.CSS(op+` .opblock-summary-control`)),
		chromedp.Click(chromedp.CSS(op+` .opblock-summary-control`)))
	b.do("try it out", chromedp.Click(chromedp.CSS(op+` .try-out__btn`)))
	b.do("execute", chromedp.Click(chromedp.CSS(op+` .execute`)))
	answer := `document.querySelector(` + q(op+` .live-responses-table .response-col_status:not(.col_header)`) + `)`
	body := `document.querySelector(` + q(op+` .live-responses-table .response-col_description:not(.col_header)`) + `)`
	b.wait("a 200 with the lead list", answer+`?.textContent.trim() === '200' && /"success":\s*true/.test(`+body+`?.textContent)`)
	b.do("show the answer", chromedp.ScrollIntoView(chromedp.CSS(op+` .live-responses-table`)))
	b.shot("docs-try-it")

	// More of the page, for the CSP's sake: a request body's example and
	// schema, and a schema of the Schemas section opened.
	create := `#operations-Leads-createLead`
	b.do("open POST /backend/leads", chromedp.ScrollIntoView(chromedp.CSS(create+` .opblock-summary-control`)),
		chromedp.Click(chromedp.CSS(create+` .opblock-summary-control`)))
	b.wait("its request body example", `document.querySelector(`+q(create+` .opblock-section-request-body .body-param__example, `+create+` .opblock-section-request-body .microlight`)+`)`)
	lead := `[...document.querySelectorAll('section.models article[data-json-schema-level="0"]')].find(a => a.querySelector('.json-schema-2020-12__title')?.textContent === 'Lead')`
	b.wait("the Lead schema", lead)
	b.do("expand the Lead schema", chromedp.Evaluate[chromedp.Void](`(a => { a.scrollIntoView(); a.querySelector('.json-schema-2020-12-expand-deep-button').click() })(`+lead+`)`))
	b.wait("its properties", lead+`.querySelectorAll('.json-schema-2020-12-property').length > 3`)
	b.shot("docs-schema")

	mu.Lock()
	if !slices.Contains(auths, "Bearer "+s.Key) {
		t.Errorf("GET /backend/leads went with Authorization %q, want the pasted key as a Bearer token", auths)
	}
	mu.Unlock()
	if stored := js[string](b, `JSON.stringify([localStorage.length, sessionStorage.length, document.cookie])`); stored != `[0,0,""]` {
		t.Errorf("the page stored something ([localStorage, sessionStorage, cookies]): %s", stored)
	}
	if v := js[[]string](b, `window.__csp || []`); len(v) > 0 {
		t.Errorf("CSP violations: %q", v)
	}
	b.checkProblems()
	mu.Lock()
	defer mu.Unlock()
	for _, u := range elsewhere {
		t.Errorf("the page asked for %s, not the test server", u)
	}
	for _, m := range consoleErrors {
		t.Errorf("console %s", m)
	}
}

// docsTags returns the names of the tags of openapi.json's operations,
// sorted, and the operationId of GET /backend/leads.
func docsTags(t *testing.T) ([]string, string) {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]struct {
			Tags        []string `json:"tags"`
			OperationID string   `json:"operationId"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(web.OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, item := range doc.Paths {
		for _, op := range item {
			for _, tag := range op.Tags {
				if !slices.Contains(tags, tag) {
					tags = append(tags, tag)
				}
			}
		}
	}
	slices.Sort(tags)
	id := doc.Paths["/backend/leads"]["get"].OperationID
	if len(tags) < 5 || id == "" {
		t.Fatalf("openapi.json: tags %q, GET /backend/leads operationId %q", tags, id)
	}
	return tags, url.PathEscape(id)
}
