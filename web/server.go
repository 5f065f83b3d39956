// Package web is Parley's HTTP face: echo routes for both API dialects, the
// auth and rate-limit middleware, and the one error handler that turns every
// failure into problem JSON. Handlers decode, validate and call one method of
// the store or the turn pipeline; they hold no business logic.
package web

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"github.com/parley-dev/parley/ai"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/stream"
	"github.com/parley-dev/parley/ui"
	"github.com/parley-dev/parley/web/apidocs"
)

// Config is what the web layer needs from the server's configuration.
type Config struct {
	MaxBodyBytes       int64 // request bodies above this are 413
	RateLimitPerMinute int   // per API key; 0 turns the limiter off
	// AuthFailuresPerMinute bounds requests with a missing or unknown key
	// per client IP; 0 turns the bound off.
	AuthFailuresPerMinute int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client; without any, the client is the socket's peer.
	TrustedProxies []*net.IPNet
	// BodyTimeout is how long a client has to send a request body (30 s
	// when zero); slower is 408 and the connection is closed.
	BodyTimeout time.Duration
	Logger      *slog.Logger
	Now         func() time.Time // clock, for tests

	// AllowPrivateNetworks lifts the SSRF guard (local integration tests).
	AllowPrivateNetworks bool
	// Broker serves the SSE streams and Pipeline runs AI turns; both are
	// required, and package app builds them with everything they need.
	Broker   *stream.Broker
	Pipeline *ai.Pipeline
	// Metrics, when set, is told about every request; MetricsHandler serves /metrics.
	Metrics        RequestObserver
	MetricsHandler http.Handler
}

// RequestObserver records finished requests (the metrics package implements it).
type RequestObserver interface {
	ObserveRequest(route, method string, status int, d time.Duration)
}

// Server holds the handlers' dependencies.
type Server struct {
	cfg      Config
	store    *store.Store
	log      *slog.Logger
	keys     *keyCache
	limits   *limiter
	authFail *authFailures
	broker   *stream.Broker
	pipeline *ai.Pipeline
}

// New builds the echo instance with every route. It panics without
// cfg.Broker or cfg.Pipeline: a server without them is a wiring mistake.
func New(cfg Config, st *store.Store) *echo.Echo {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = defaultBodyTimeout
	}
	if cfg.Broker == nil || cfg.Pipeline == nil {
		panic("web: New needs a Broker and a Pipeline (package app wires them)")
	}
	s := &Server{
		cfg: cfg, store: st, log: cfg.Logger,
		keys:     &keyCache{st: st, now: cfg.Now, m: map[string]cachedKey{}},
		limits:   &limiter{perMinute: cfg.RateLimitPerMinute, now: cfg.Now, buckets: map[string]*rate.Limiter{}},
		authFail: &authFailures{perMinute: cfg.AuthFailuresPerMinute, now: cfg.Now, buckets: map[string]*rate.Limiter{}},
		broker:   cfg.Broker,
		pipeline: cfg.Pipeline,
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = ipExtractor(cfg.TrustedProxies)
	e.HTTPErrorHandler = errorHandler(s.log)
	e.Pre(decodedPaths)
	e.Use(middleware.RequestID(), s.requestLog, s.recoverPanic, s.bodyDeadline, s.bodyLimit)
	s.routes(e)
	return e
}

// routes lists every route of API.md in one place.
func (s *Server) routes(e *echo.Echo) {
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	ui.Mount(e) // GET / and /assets/*: the embedded inbox (package ui); claims no other path
	e.GET("/openapi.json", s.openAPIDocument)
	apidocs.Mount(e) // GET /docs and /docs/assets/*: Swagger UI, embedded
	if s.cfg.MetricsHandler != nil {
		e.GET("/metrics", echo.WrapHandler(s.cfg.MetricsHandler))
	}

	api := routeSet{e, s.authenticate(false)}
	sse := routeSet{e, s.authenticate(true)}
	sse.GET("/backend/conversations/stream", s.streamEvents)
	sse.GET("/backend/conversations/:id/stream", s.streamEvents)

	api.POST("/ai/process", s.process)
	api.GET("/backend/settings", s.getSettings)

	api.GET("/backend/leads", s.listLeads)
	api.POST("/backend/leads", s.createLead)
	api.GET("/backend/leads/:id", s.getLead)
	api.PUT("/backend/leads/:id", s.updateLead)
	api.DELETE("/backend/leads/:id", s.deleteLead)

	api.GET("/backend/assistants", s.listAssistants)
	api.POST("/backend/assistants", s.createAssistant)
	api.GET("/backend/assistants/:id", s.getAssistant)
	api.PUT("/backend/assistants/:id", s.updateAssistant)
	api.DELETE("/backend/assistants/:id", s.deleteAssistant)

	api.GET("/backend/channels", s.listChannels)
	api.POST("/backend/channels", s.createChannel)
	api.GET("/backend/channels/:id", s.getChannel)
	api.PUT("/backend/channels/:id", s.updateChannel)
	api.DELETE("/backend/channels/:id", s.deleteChannel)

	api.GET("/backend/conversations", s.listConversations)
	api.GET("/backend/conversations/:id", s.getConversation)
	api.PUT("/backend/conversations/:id", s.updateConversation)
	api.POST("/backend/conversations/:id/read", s.markRead)
	api.POST("/backend/conversations/:id/typing", s.typing)

	api.GET("/backend/messages", s.listMessages)
	api.GET("/backend/messages/:lead_id", s.leadMessages)
	api.POST("/backend/messages/send", s.sendMessage)
	api.POST("/backend/messages/media", s.sendMedia)
	api.PUT("/backend/messages/:id/status", s.setMessageStatus)

	api.GET("/backend/webhooks", s.listWebhooks)
	api.POST("/backend/webhooks", s.createWebhook)
	api.GET("/backend/webhooks/:id", s.getWebhook)
	api.PUT("/backend/webhooks/:id", s.updateWebhook)
	api.DELETE("/backend/webhooks/:id", s.deleteWebhook)
	api.POST("/backend/webhooks/:id/regenerate-secret", s.regenerateWebhookSecret)
	api.GET("/backend/deliveries", s.listDeliveries)
	api.POST("/backend/deliveries/:id/retry", s.retryDelivery)

	api.GET("/bot", s.listBots)
	api.GET("/bot/presentation/:botId", s.botPresentation)
	api.GET("/conversation", s.listAgentConversations)
	api.GET("/conversation/:id", s.agentConversation)
	api.GET("/conversation/message/:id", s.agentMessages)
	api.POST("/conversation/create/:botId", s.createAgentConversation)
	api.PUT("/conversation/update/:id", s.updateAgentConversation)
	api.POST("/conversation/stream/:id", s.streamChat)
	api.POST("/conversation/complete/:id", s.completeChat)
	api.POST("/conversation/message/feedback/:id", s.messageFeedback)
	api.POST("/conversation/survey/:id", s.conversationSurvey)
}

// routeSet registers routes with their middleware on the echo instance
// itself. (A Group with an empty prefix would also claim unknown paths and
// methods: 401 instead of 404 for a path that does not exist, 404 instead of
// 405 for a method a path does not take.)
type routeSet struct {
	e  *echo.Echo
	mw echo.MiddlewareFunc
}

func (r routeSet) GET(path string, h echo.HandlerFunc)    { r.e.GET(path, h, r.mw) }
func (r routeSet) POST(path string, h echo.HandlerFunc)   { r.e.POST(path, h, r.mw) }
func (r routeSet) PUT(path string, h echo.HandlerFunc)    { r.e.PUT(path, h, r.mw) }
func (r routeSet) DELETE(path string, h echo.HandlerFunc) { r.e.DELETE(path, h, r.mw) }

// decodedPaths routes on the decoded path, so that an id a client sent
// percent-encoded (a WhatsApp JID's @ as %40, as JavaScript's
// encodeURIComponent does) reaches handlers as the id itself. No id may
// contain a slash, so nothing is lost by it.
func decodedPaths(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Request().URL.RawPath = ""
		return next(c)
	}
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	ctx := c.Request().Context()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("readiness check failed", "err", err)
		return problem(http.StatusServiceUnavailable, CodeUnavailable, "store unavailable")
	}
	// While writes fail for lack of storage the server is not ready (until
	// a write succeeds again, or space plainly came back: RetryStorage).
	if s.store.StorageError() != nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if s.store.RetryStorage(pctx) != nil {
			return storageProblem("storage is full or failing: writes are refused until it recovers")
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// probeRoutes are the health checks and the metrics scrape, logged at debug.
var probeRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// requestLog logs one line per request: never the query string (it may hold
// ?token=) nor any header.
func (s *Server) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err) // render now so that the logged status is the one sent
		}
		took := time.Since(start)
		// Health checks and scrapes come every few seconds from machines:
		// at info they would bury the requests people read logs for.
		level := slog.LevelInfo
		if probeRoutes[c.Path()] {
			level = slog.LevelDebug
		}
		s.log.Log(c.Request().Context(), level, "request", "method", c.Request().Method, "route", c.Path(), "path", c.Request().URL.Path,
			"status", c.Response().Status, "duration_ms", float64(took.Microseconds())/1000,
			"request_id", requestID(c))
		if s.cfg.Metrics != nil {
			s.cfg.Metrics.ObserveRequest(c.Path(), c.Request().Method, c.Response().Status, took)
		}
		return nil
	}
}

// recoverPanic turns a panic into a 500; the stack goes to the error log only.
func (s *Server) recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.Error("panic in handler", "request_id", requestID(c), "route", c.Path(), "panic", fmt.Sprint(r),
					"stack", string(debug.Stack()))
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}

// bodyLimit caps request bodies at MaxBodyBytes (API.md §1: 413 above it).
func (s *Server) bodyLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > s.cfg.MaxBodyBytes {
			return problem(http.StatusRequestEntityTooLarge, CodeTooLarge, "request body exceeds %d bytes", s.cfg.MaxBodyBytes)
		}
		r.Body = http.MaxBytesReader(c.Response(), r.Body, s.cfg.MaxBodyBytes)
		return next(c)
	}
}

func (s *Server) getSettings(c echo.Context) error {
	info, err := tenantOf(c).Info(c.Request().Context())
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, map[string]any{
		"tenant_id": info.ID, "name": info.Name, "postback_secret": info.PostbackSecret,
		"rate_limit_per_minute": s.cfg.RateLimitPerMinute,
	})
}
