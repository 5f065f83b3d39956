package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/parley-dev/parley/store"
)

type webhookBody struct {
	URL    *string  `json:"url"`
	Events []string `json:"events"`
	Active *bool    `json:"active"`
}

func (s *Server) decodeWebhook(body []byte, creating bool) (store.WebhookInput, error) {
	var b webhookBody
	fields, err := decodeFields(body, &b, !creating)
	if err != nil {
		return store.WebhookInput{}, err
	}
	if creating || b.URL != nil {
		if msg := urlProblem(deref(b.URL), s.cfg.AllowPrivateNetworks); msg != "" {
			fields.add("url", msg)
		}
	}
	var unknown []string
	for _, e := range b.Events {
		if !slices.Contains(store.WebhookEvents, e) {
			unknown = append(unknown, e)
		}
	}
	switch {
	case len(unknown) > 0:
		fields.add("events", "unknown events "+strings.Join(unknown, ", ")+"; use "+strings.Join(store.WebhookEvents, ", "))
	case (creating || b.Events != nil) && len(b.Events) == 0:
		fields.add("events", "must name at least one event")
	}
	if len(fields) > 0 {
		return store.WebhookInput{}, invalid(fields...)
	}
	if b.Events != nil {
		slices.Sort(b.Events)
		b.Events = slices.Compact(b.Events)
	}
	return store.WebhookInput(b), nil
}

func (s *Server) createWebhook(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	in, err := s.decodeWebhook(body, true)
	if err != nil {
		return err
	}
	h, err := tenantOf(c).CreateWebhook(c.Request().Context(), in)
	if err != nil {
		return err
	}
	return ok(c, http.StatusCreated, h)
}

func (s *Server) getWebhook(c echo.Context) error {
	id := c.Param("id")
	h, err := tenantOf(c).Webhook(c.Request().Context(), id)
	if err != nil {
		return orNotFound(err, "webhook", id)
	}
	return ok(c, http.StatusOK, h)
}

func (s *Server) listWebhooks(c echo.Context) error {
	p, err := pageParams(c)
	if err != nil {
		return err
	}
	list, total, err := tenantOf(c).ListWebhooks(c.Request().Context(), p)
	if err != nil {
		return err
	}
	return okList(c, list, total, p)
}

func (s *Server) updateWebhook(c echo.Context) error {
	id := c.Param("id")
	body, err := readBody(c)
	if err != nil {
		return err
	}
	in, err := s.decodeWebhook(body, false)
	if err != nil {
		return err
	}
	h, err := tenantOf(c).UpdateWebhook(c.Request().Context(), id, in)
	if err != nil {
		return orNotFound(err, "webhook", id)
	}
	return ok(c, http.StatusOK, h)
}

func (s *Server) deleteWebhook(c echo.Context) error {
	id := c.Param("id")
	if err := tenantOf(c).DeleteWebhook(c.Request().Context(), id); err != nil {
		return orNotFound(err, "webhook", id)
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) regenerateWebhookSecret(c echo.Context) error {
	id := c.Param("id")
	h, err := tenantOf(c).RegenerateWebhookSecret(c.Request().Context(), id)
	if err != nil {
		return orNotFound(err, "webhook", id)
	}
	return ok(c, http.StatusOK, h)
}

var deliveryStatuses = []string{store.DeliveryPending, store.DeliveryDelivered, store.DeliveryFailed}

func (s *Server) listDeliveries(c echo.Context) error {
	p, err := pageParams(c)
	if err != nil {
		return err
	}
	status := c.QueryParam("status")
	if status != "" && !slices.Contains(deliveryStatuses, status) {
		return invalid(FieldError{"status", "must be pending, delivered or failed"})
	}
	list, total, err := tenantOf(c).ListDeliveries(c.Request().Context(), status, p)
	if err != nil {
		return err
	}
	return okList(c, list, total, p)
}

func (s *Server) retryDelivery(c echo.Context) error {
	id := c.Param("id")
	d, err := tenantOf(c).RetryDelivery(c.Request().Context(), id)
	if err != nil {
		return orNotFound(err, "delivery", id)
	}
	return ok(c, http.StatusOK, d)
}
