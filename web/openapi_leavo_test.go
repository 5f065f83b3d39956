package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/parley-dev/parley/metrics"
	"github.com/parley-dev/parley/stream"
	"github.com/parley-dev/parley/web"
)

// TestOpenAPIValidatesRealTraffic sends good and bad requests to every route
// of the real server and checks each request and response against
// web/openapi.json; every route must answer at least one success and one
// error.
func TestOpenAPIValidatesRealTraffic(t *testing.T) {
	v := newOAValidator(t)
	m := metrics.New()
	e := newEnvWith(t, envOpts{Stream: stream.Options{Heartbeat: 150 * time.Millisecond}, Mutate: []func(*web.Config){
		func(c *web.Config) { c.RateLimitPerMinute, c.Metrics, c.MetricsHandler = 1_000_000, m, m.Handler() }}})
	c := v.client(t, e.srv.URL, e.key)
	out := &oaOutbound{}
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out.record(r)
		switch {
		case strings.Contains(r.URL.Path, "fail"):
			w.WriteHeader(http.StatusBadRequest) // a 4xx fails a delivery at once
		case strings.Contains(r.URL.Path, "missing"):
			w.WriteHeader(http.StatusNotFound) // a media URL that cannot be fetched
		}
	}))
	t.Cleanup(hooks.Close)

	oaPublic(c)
	w := oaLeavo(t, c, hooks.URL)
	oaStreams(t, c, w)
	oaAgent(t, c, w)
	oaSpecialServers(t, v)
	oaSweep(c, v)
	out.check(t, v)
	v.checkCoverage(t)
}

// oaWorld holds the ids the scenario creates.
type oaWorld struct {
	tenant, lead, conv, channel, assistant, message, answer string
}

func oaPublic(c *oaClient) {
	c.do(oaReq{Want: 200, NoAuth: true}, "GET", "/healthz", nil)
	c.do(oaReq{Want: 200, NoAuth: true}, "GET", "/readyz", nil)
	c.do(oaReq{Want: 200, NoAuth: true}, "GET", "/openapi.json", nil)
	c.do(oaReq{Want: 200, NoAuth: true}, "GET", "/docs", nil)
	c.do(oaReq{Want: 200, NoAuth: true}, "GET", "/metrics", nil)
}

func oaLeavo(t *testing.T, c *oaClient, hooks string) *oaWorld {
	w := &oaWorld{}
	bad := oaReq{Want: 400, Invalid: true}
	set := c.data(c.do(oaReq{Want: 200}, "GET", "/backend/settings", nil))
	w.tenant = str(t, set, "tenant_id")
	c.do(oaReq{Want: 401, NoAuth: true, Invalid: true}, "GET", "/backend/settings", nil)
	c.do(oaReq{Want: 401, Key: "prl_not_a_key"}, "GET", "/backend/settings", nil)

	// Leads.
	ana := c.data(c.do(oaReq{Want: 201}, "POST", "/backend/leads", obj{"name": "Ana", "phone": "+55 11 98888-7777",
		"email": "ana@example.com", "company": "Acme", "meta": obj{"plan": "pro", "tags": []any{"a"}}}))
	jid := "5511999999999@s.whatsapp.net"
	c.do(oaReq{Want: 201}, "POST", "/backend/leads", obj{"id": jid, "name": "Bia"})
	c.do(oaReq{Want: 201}, "POST", "/backend/leads", obj{})
	c.do(oaReq{Want: 409}, "POST", "/backend/leads", obj{"id": jid})
	c.do(bad, "POST", "/backend/leads", obj{"phone": "call me"})
	c.do(bad, "POST", "/backend/leads", obj{"name": 5, "email": true})
	c.do(oaReq{Want: 415, Invalid: true, Raw: "<lead/>", CT: "application/xml"}, "POST", "/backend/leads", nil)
	c.do(oaReq{Want: 413}, "POST", "/backend/leads", obj{"meta": obj{"blob": strings.Repeat("x", 1<<20+10)}})
	c.do(oaReq{Want: 200}, "GET", "/backend/leads?search=ana&limit=10&offset=0", nil)
	c.do(bad, "GET", "/backend/leads?limit=101", nil)
	c.do(bad, "GET", "/backend/leads?offset=-1", nil)
	anaID := str(t, ana, "id")
	c.do(oaReq{Want: 200}, "GET", "/backend/leads/"+anaID, nil)
	c.do(oaReq{Want: 404}, "GET", "/backend/leads/nobody", nil)
	c.do(oaReq{Want: 200}, "PUT", "/backend/leads/"+anaID, obj{"company": "", "meta": obj{"tags": nil}})
	c.do(oaReq{Want: 200}, "PUT", "/backend/leads/"+anaID, nil) // an empty partial update changes nothing
	c.do(bad, "PUT", "/backend/leads/"+anaID, obj{"id": "other"})
	c.do(oaReq{Want: 404}, "PUT", "/backend/leads/nobody", obj{"name": "x"})
	c.do(oaReq{Want: 409}, "PUT", "/backend/leads/"+jid, obj{"phone": "+55 11 98888-7777"})
	gone := c.data(c.do(oaReq{Want: 201}, "POST", "/backend/leads", obj{"name": "Temp"}))
	c.do(oaReq{Want: 204}, "DELETE", "/backend/leads/"+str(t, gone, "id"), nil)
	c.do(oaReq{Want: 404}, "DELETE", "/backend/leads/"+str(t, gone, "id"), nil)
	w.lead = jid

	// Assistants.
	list := c.do(oaReq{Want: 200}, "GET", "/backend/assistants", nil)
	var assts envelope[[]obj]
	list.JSON(t, &assts)
	defaultID := str(t, assts.Data[0], "id")
	c.do(bad, "GET", "/backend/assistants?limit=0", nil)
	sales := c.data(c.do(oaReq{Want: 201}, "POST", "/backend/assistants", obj{"name": "Sales", "system_prompt": "Sell.",
		"temperature": 0.3, "history_limit": 10, "debounce_seconds": 0.2, "debounce_max_wait_seconds": 1, "pause_on_human": true}))
	w.assistant = str(t, sales, "id")
	c.do(bad, "POST", "/backend/assistants", obj{})
	c.do(bad, "POST", "/backend/assistants", obj{"name": "Hot", "temperature": 3})
	c.do(oaReq{Want: 200}, "GET", "/backend/assistants/"+w.assistant, nil)
	c.do(oaReq{Want: 404}, "GET", "/backend/assistants/0190c2a4-7d1e-7c3a-9f2b-3c4d5e6f7a8b", nil)
	c.do(oaReq{Want: 200}, "PUT", "/backend/assistants/"+w.assistant, obj{"presentation": "Hi, I sell."})
	c.do(oaReq{Want: 200}, "PUT", "/backend/assistants/"+defaultID, obj{"debounce_seconds": 0.2, "debounce_max_wait_seconds": 1})
	c.do(oaReq{Want: 200}, "PUT", "/backend/assistants/"+w.assistant, nil)
	c.do(bad, "PUT", "/backend/assistants/"+w.assistant, obj{"history_limit": 500})
	c.do(oaReq{Want: 404}, "PUT", "/backend/assistants/nope", obj{"name": "x"})
	c.do(oaReq{Want: 409}, "DELETE", "/backend/assistants/"+defaultID, nil)
	temp := c.data(c.do(oaReq{Want: 201}, "POST", "/backend/assistants", obj{"name": "Temp"}))
	c.do(oaReq{Want: 204}, "DELETE", "/backend/assistants/"+str(t, temp, "id"), nil)
	c.do(oaReq{Want: 404}, "DELETE", "/backend/assistants/"+str(t, temp, "id"), nil)

	// Channels.
	ch := c.data(c.do(oaReq{Want: 201}, "POST", "/backend/channels", obj{"name": "WA", "type": "whatsapp", "assistant_id": w.assistant}))
	w.channel = str(t, ch, "id")
	c.do(bad, "POST", "/backend/channels", obj{"name": "Fax", "type": "fax"})
	c.do(oaReq{Want: 400}, "POST", "/backend/channels", obj{"name": "Web", "type": "web", "assistant_id": "nope"})
	c.do(oaReq{Want: 200}, "GET", "/backend/channels", nil)
	c.do(bad, "GET", "/backend/channels?limit=abc", nil)
	c.do(oaReq{Want: 200}, "GET", "/backend/channels/"+w.channel, nil)
	c.do(oaReq{Want: 404}, "GET", "/backend/channels/nope", nil)
	c.do(oaReq{Want: 200}, "PUT", "/backend/channels/"+w.channel, obj{"name": "WA main"})
	c.do(oaReq{Want: 200}, "PUT", "/backend/channels/"+w.channel, nil)
	c.do(bad, "PUT", "/backend/channels/"+w.channel, obj{"type": "fax"})
	c.do(oaReq{Want: 404}, "PUT", "/backend/channels/nope", obj{"name": "x"})
	tmp := c.data(c.do(oaReq{Want: 201}, "POST", "/backend/channels", obj{"name": "Tmp", "type": "api"}))
	c.do(oaReq{Want: 204}, "DELETE", "/backend/channels/"+str(t, tmp, "id"), nil)
	c.do(oaReq{Want: 404}, "DELETE", "/backend/channels/"+str(t, tmp, "id"), nil)

	// Webhooks, before the traffic they report.
	hook := c.data(c.do(oaReq{Want: 201}, "POST", "/backend/webhooks", obj{"url": hooks + "/ok",
		"events": []string{"message.received", "ai.response", "lead.created", "conversation.updated"}}))
	failing := c.data(c.do(oaReq{Want: 201}, "POST", "/backend/webhooks", obj{"url": hooks + "/fail", "events": []string{"message.received"}, "active": true}))
	hookID := str(t, hook, "id")
	c.do(bad, "POST", "/backend/webhooks", obj{"url": "ftp://example.com", "events": []string{}})
	c.do(bad, "POST", "/backend/webhooks", obj{"url": hooks, "events": []string{"lead.exploded"}})
	c.do(oaReq{Want: 200}, "GET", "/backend/webhooks", nil)
	c.do(bad, "GET", "/backend/webhooks?limit=1000", nil)
	c.do(oaReq{Want: 200}, "GET", "/backend/webhooks/"+hookID, nil)
	c.do(oaReq{Want: 404}, "GET", "/backend/webhooks/nope", nil)
	c.do(oaReq{Want: 200}, "PUT", "/backend/webhooks/"+hookID, obj{"active": true, "events": []string{"message.received", "ai.response"}})
	c.do(oaReq{Want: 200}, "PUT", "/backend/webhooks/"+hookID, nil)
	c.do(bad, "PUT", "/backend/webhooks/"+hookID, obj{"events": []string{}})
	c.do(oaReq{Want: 404}, "PUT", "/backend/webhooks/nope", obj{"active": false})
	c.do(oaReq{Want: 200}, "POST", "/backend/webhooks/"+hookID+"/regenerate-secret", nil)
	c.do(oaReq{Want: 404}, "POST", "/backend/webhooks/nope/regenerate-secret", nil)

	oaProcess(t, c, w, hooks)
	oaConversations(t, c, w)
	oaMessages(t, c, w)

	// Deliveries: the failing hook's message.received fails at once.
	var failed envelope[[]obj]
	eventually(t, 10*time.Second, "a failed delivery", func() bool {
		c.do(oaReq{Want: 200}, "GET", "/backend/deliveries?status=failed", nil).JSON(t, &failed)
		return len(failed.Data) > 0
	})
	c.do(oaReq{Want: 200}, "GET", "/backend/deliveries?limit=5", nil)
	c.do(bad, "GET", "/backend/deliveries?status=lost", nil)
	c.do(oaReq{Want: 200}, "POST", "/backend/deliveries/"+str(t, failed.Data[0], "id")+"/retry", nil)
	c.do(oaReq{Want: 404}, "POST", "/backend/deliveries/nope/retry", nil)
	c.do(oaReq{Want: 204}, "DELETE", "/backend/webhooks/"+str(t, failing, "id"), nil)
	c.do(oaReq{Want: 404}, "DELETE", "/backend/webhooks/"+str(t, failing, "id"), nil)
	return w
}

func oaProcess(t *testing.T, c *oaClient, w *oaWorld, hooks string) {
	bad := oaReq{Want: 400, Invalid: true}
	msg := func(lead, role, content string) obj {
		return obj{"tenant_id": w.tenant, "lead_id": lead, "role": role, "content": content, "message_type": "text"}
	}
	first := msg(w.lead, "user", "Olá, quanto custa?")
	first["external_id"] = "wamid.1"
	res := c.data(c.do(oaReq{Want: 200}, "POST", "/ai/process", first))
	w.conv, w.message, w.answer = str(t, res, "conversation_id"), str(t, res, "message_id"), str(t, res, "response_message_id")
	c.do(oaReq{Want: 200}, "POST", "/ai/process", first) // idempotent replay
	c.do(oaReq{Want: 200, Header: map[string]string{"Idempotency-Key": "k-1"}}, "POST", "/ai/process", msg(w.lead, "system", "note"))
	onChannel := msg(w.lead, "user", "pelo WhatsApp")
	onChannel["channel_id"] = w.channel
	c.do(oaReq{Want: 200}, "POST", "/ai/process", onChannel)
	c.do(oaReq{Want: 200}, "POST", "/ai/process", msg("paused-lead", "human", "Operator here"))
	c.do(oaReq{Want: 200}, "POST", "/ai/process", msg("paused-lead", "user", "still there?"))
	queued := msg("debounced-lead", "user", "oi")
	queued["debounce"], queued["postback_url"] = true, hooks+"/postback"
	c.do(oaReq{Want: 202}, "POST", "/ai/process", queued)
	sys := msg("debounced-lead", "assistant", "draft")
	sys["debounce"], sys["postback_url"] = true, hooks+"/postback"
	c.do(oaReq{Want: 202}, "POST", "/ai/process", sys)
	c.do(bad, "POST", "/ai/process", obj{})
	c.do(bad, "POST", "/ai/process", msg(w.lead, "user", ""))
	noPostback := msg(w.lead, "user", "x")
	noPostback["debounce"] = true
	c.do(bad, "POST", "/ai/process", noPostback)
	c.do(bad, "POST", "/ai/process", obj{"tenant_id": w.tenant, "lead_id": w.lead, "role": "robot", "message_type": "gif"})
	c.do(oaReq{Want: 400, Invalid: true, Header: map[string]string{"Idempotency-Key": strings.Repeat("k", 300)}},
		"POST", "/ai/process", msg(w.lead, "user", "long key"))
	other := msg(w.lead, "user", "hello")
	other["tenant_id"] = "another-tenant"
	c.do(oaReq{Want: 403}, "POST", "/ai/process", other)
	image := obj{"tenant_id": w.tenant, "lead_id": w.lead, "role": "user", "message_type": "image", "url": hooks + "/missing.png"}
	c.do(oaReq{Want: 502}, "POST", "/ai/process", image)
	pdf := obj{"tenant_id": w.tenant, "lead_id": w.lead, "role": "user", "message_type": "pdf", "url": hooks + "/not-a.pdf"}
	c.do(oaReq{Want: 400}, "POST", "/ai/process", pdf)
	audio := obj{"tenant_id": w.tenant, "lead_id": w.lead, "role": "user", "message_type": "audio", "url": hooks + "/voice.ogg", "content": "voice"}
	c.do(oaReq{Want: 200}, "POST", "/ai/process", audio)
}

// oaOutbound records what the server POSTs to postback and webhook URLs.
type oaOutbound struct {
	mu     sync.Mutex
	bodies map[string][][]byte // by path
}

func (o *oaOutbound) record(r *http.Request) {
	if r.Method != http.MethodPost {
		return // a media fetch
	}
	b, _ := io.ReadAll(r.Body)
	if r.Header.Get("X-Parley-Signature") == "" || r.Header.Get("X-Parley-Delivery") == "" {
		b = nil // unsigned: fails check
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.bodies == nil {
		o.bodies = map[string][][]byte{}
	}
	o.bodies[r.URL.Path] = append(o.bodies[r.URL.Path], b)
}

// check validates the postbacks and webhook payloads received against the
// document's Postback and WebhookPayload schemas, and each payload's data
// against the schema of its subject.
func (o *oaOutbound) check(t *testing.T, v *oaValidator) {
	eventually(t, 10*time.Second, "a postback", func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		return len(o.bodies["/postback"]) > 0 && len(o.bodies["/ok"]) > 0
	})
	o.mu.Lock()
	defer o.mu.Unlock()
	subject := map[string]string{"message.received": "Message", "message.sent": "Message", "ai.response": "Message",
		"lead.created": "Lead", "lead.updated": "Lead", "lead.deleted": "Lead", "conversation.updated": "Conversation"}
	validate := func(schema string, what string, v2 any) {
		if v.doc.Components.Schemas[schema] == nil {
			t.Errorf("%s: no schema for it", what)
			return
		}
		if err := v.doc.Components.Schemas[schema].Value.VisitJSON(v2, openapi3.EnableJSONSchema2020()); err != nil {
			t.Errorf("%s does not match schema %s: %s", what, schema, oaShort(err))
		}
	}
	for path, list := range o.bodies {
		for _, b := range list {
			var body map[string]any
			if err := json.Unmarshal(b, &body); err != nil {
				t.Errorf("POST %s: unsigned or not JSON: %.200s", path, b)
				continue
			}
			if path == "/postback" {
				validate("Postback", "postback "+string(b), body)
				continue
			}
			validate("WebhookPayload", "webhook payload "+string(b), body)
			ev, _ := body["event"].(string)
			validate(subject[ev], "the data of webhook event "+ev, body["data"])
		}
	}
}
