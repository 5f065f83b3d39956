package web

import (
	"bytes"
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPIJSON is the OpenAPI 3.1 document of every route, served at
// GET /openapi.json (which the page of GET /docs, package apidocs, reads).
// Tests check it against the routes echo registers and against real
// requests and responses.
//
//go:embed openapi.json
var openAPIJSON []byte

// OpenAPIDocument returns the OpenAPI document served at /openapi.json.
func OpenAPIDocument() []byte { return bytes.Clone(openAPIJSON) }

// openAPIDocument is GET /openapi.json.
func (s *Server) openAPIDocument(c echo.Context) error {
	h := c.Response().Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIJSON)
}
