package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/parley-dev/parley/ai"
	"github.com/parley-dev/parley/netguard"
	"github.com/parley-dev/parley/store"
)

// processBody is the JSON of POST /ai/process (seeds/002 plus API.md's
// extensions channel_id and external_id).
type processBody struct {
	TenantID    string `json:"tenant_id"`
	LeadID      string `json:"lead_id"`
	Role        string `json:"role"`
	Content     string `json:"content"`
	MessageType string `json:"message_type"`
	URL         string `json:"url"`
	Debounce    bool   `json:"debounce"`
	PostbackURL string `json:"postback_url"`
	ChannelID   string `json:"channel_id"`
	ExternalID  string `json:"external_id"`
}

var (
	processRoles = map[string]bool{store.RoleUser: true, store.RoleAssistant: true, store.RoleHuman: true, store.RoleSystem: true}
	processTypes = map[string]bool{"text": true, "image": true, "audio": true, "pdf": true}
)

// maxKeyLength bounds external ids and Idempotency-Key headers.
const maxKeyLength = 256

// decodeProcess decodes and validates a /ai/process body; every bad field is
// listed. allowPrivate lifts the SSRF guard's intake check (local tests).
func decodeProcess(body []byte, idemKey string, allowPrivate bool) (processBody, error) {
	var b processBody
	// Fields of the wrong JSON type are collected, not returned at once, so
	// that one answer names every bad field (API.md §1).
	fields, err := decodeFields(body, &b, false)
	if err != nil {
		return b, err
	}
	add := fields.add
	if b.TenantID == "" {
		add("tenant_id", "is required")
	}
	if b.LeadID == "" {
		add("lead_id", "is required")
	} else if !leadIDPattern.MatchString(b.LeadID) {
		add("lead_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : @ + -")
	}
	if !processRoles[b.Role] {
		add("role", "must be one of user, assistant, human, system")
	}
	switch {
	case b.MessageType == "":
		add("message_type", "is required")
	case !processTypes[b.MessageType]:
		add("message_type", "must be one of text, image, audio, pdf")
	case b.MessageType == "text" && b.Content == "":
		add("content", "is required for text messages")
	case b.MessageType != "text":
		if msg := urlProblem(b.URL, allowPrivate); msg != "" {
			add("url", msg)
		}
	}
	if len(b.Content) > maxContentBytes {
		add("content", "must be at most 65536 bytes")
	}
	if b.Debounce {
		if msg := urlProblem(b.PostbackURL, allowPrivate); msg != "" {
			add("postback_url", msg)
		}
	}
	if len(b.ExternalID) > maxKeyLength {
		add("external_id", "must be at most 256 characters")
	}
	if len(idemKey) > maxKeyLength {
		add("Idempotency-Key", "must be at most 256 characters")
	}
	if len(fields) > 0 {
		return b, invalid(fields...)
	}
	return b, nil
}

// privateHint names the setting that lifts the SSRF guard, for operators
// who hit it while testing against a local server.
const privateHint = " (private and local addresses are refused unless the server runs with PARLEY_ALLOW_PRIVATE_NETWORKS=true, meant for local tests)"

// urlProblem says what is wrong with a URL the server will fetch or post
// to, or "" when it may be used.
func urlProblem(raw string, allowPrivate bool) string {
	switch {
	case raw == "":
		return "is required"
	case !isHTTPURL(raw):
		return "must be an http or https URL"
	case !allowPrivate:
		if err := netguard.CheckURL(raw); err != nil {
			return "is not allowed: " + err.Error() + privateHint
		}
	}
	return ""
}

// process is POST /ai/process.
func (s *Server) process(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	idemKey := c.Request().Header.Get("Idempotency-Key")
	b, err := decodeProcess(body, idemKey, s.cfg.AllowPrivateNetworks)
	if err != nil {
		return err
	}
	ten := tenantOf(c)
	if b.TenantID != ten.ID() {
		return problem(http.StatusForbidden, CodeForbidden, "tenant_id does not match the API key's tenant")
	}
	// No channel means the tenant's default one, named here rather than
	// left empty: the pipeline keeps one turn at a time per lead and
	// channel, and the conversation's channel is the default's id.
	if b.ChannelID == "" {
		if b.ChannelID, err = ten.DefaultChannel(c.Request().Context()); err != nil {
			return err
		}
	}
	in := ai.Inbound{LeadID: b.LeadID, ChannelID: b.ChannelID, Role: b.Role, Content: b.Content,
		MessageType: b.MessageType, URL: b.URL, ExternalID: b.ExternalID, IdempotencyKey: idemKey}
	if b.Debounce {
		q, err := s.pipeline.Enqueue(c.Request().Context(), ten, in, b.PostbackURL)
		if err != nil {
			return s.turnError(c, err)
		}
		return c.JSON(http.StatusAccepted, q)
	}
	res, err := s.pipeline.Process(c.Request().Context(), ten, in)
	if err != nil {
		return s.turnError(c, err)
	}
	return c.JSON(http.StatusOK, res)
}

// turnError maps the pipeline's failures to problems; the lead's message is
// stored in every case but a bad channel. Media and provider failures are
// told in the client's terms, one fixed wording per class (see
// mediaProblem); their full cause, which may hold resolver addresses or
// the provider's own words, goes to the log at warn with the request id.
func (s *Server) turnError(c echo.Context, err error) error {
	var me *ai.MediaError
	var ue *ai.UpstreamError
	switch {
	case errors.Is(err, ai.ErrNoDebounce):
		return problem(http.StatusServiceUnavailable, CodeUnavailable, "debounce is not running on this server")
	case errors.Is(err, store.ErrUnknownChannel):
		return invalid(FieldError{"channel_id", "does not name a channel of this tenant"})
	case errors.As(err, &me):
		s.log.Warn("media not understood", "request_id", requestID(c), "field", me.Field, "err", me.Err)
		return mediaProblem(me)
	case errors.As(err, &ue):
		s.log.Warn("AI provider failed", "request_id", requestID(c), "err", ue)
		return problem(http.StatusBadGateway, CodeUpstream, "the AI provider failed (%s); the message was stored", upstreamSummary(ue))
	}
	return err
}

// upstreamSummary names a provider failure without the provider's own
// words or addresses: the operation and a status, a timeout, or that the
// provider could not be reached.
func upstreamSummary(ue *ai.UpstreamError) string {
	switch {
	case ue.StatusCode != 0:
		return fmt.Sprintf("%s: the provider answered status %d", ue.Op, ue.StatusCode)
	case isTimeout(ue.Err):
		return ue.Op + ": timed out"
	}
	return ue.Op + ": the provider could not be reached"
}
