package web

import (
	"errors"
	"net/http"
	"net/mail"
	"regexp"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/parley-dev/parley/store"
)

// leadBody is the JSON of POST and PUT /backend/leads.
type leadBody struct {
	ID      *string    `json:"id"`
	Name    *string    `json:"name"`
	Phone   *string    `json:"phone"`
	Email   *string    `json:"email"`
	Company *string    `json:"company"`
	Meta    store.Meta `json:"meta"`
}

// leadIDPattern is API.md §3.1's rule for integrator-chosen lead ids.
var leadIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:@+-]{1,128}$`)

// phonePattern accepts the usual ways of writing a number: digits with an
// optional +, spaces, dots, dashes and parentheses; 3 to 32 characters.
var phonePattern = regexp.MustCompile(`^\+?[0-9 ().-]{3,32}$`)

// countDigits counts the ASCII digits of s: a phone is digits, whatever the
// punctuation around them ("(--)" matches phonePattern but is no number).
func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}

// maxTextField bounds free-text lead fields.
const maxTextField = 512

// decodeLead decodes and validates a lead body. creating enables the id rule.
func decodeLead(body []byte, creating bool) (store.LeadInput, error) {
	var b leadBody
	fields, err := decodeFields(body, &b, !creating)
	if err != nil {
		return store.LeadInput{}, err
	}
	if b.ID != nil {
		if !creating {
			fields.add("id", "cannot be changed")
		} else if !leadIDPattern.MatchString(*b.ID) {
			fields.add("id", "must be 1-128 characters of A-Z a-z 0-9 . _ : @ + -")
		}
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"name", b.Name}, {"phone", b.Phone}, {"email", b.Email}, {"company", b.Company}} {
		if f.v != nil {
			*f.v = strings.TrimSpace(*f.v)
			if len(*f.v) > maxTextField {
				fields.add(f.name, "must be at most 512 characters")
			}
		}
	}
	if b.Phone != nil && *b.Phone != "" && (!phonePattern.MatchString(*b.Phone) || countDigits(*b.Phone) < 3) {
		fields.add("phone", "must be a phone number: at least 3 digits, an optional leading +, spaces ( ) . -")
	}
	if b.Email != nil && *b.Email != "" {
		if a, err := mail.ParseAddress(*b.Email); err != nil || a.Address != *b.Email {
			fields.add("email", "must be an email address")
		}
	}
	if msg := metaProblem(b.Meta); msg != "" {
		fields = append(fields, FieldError{"meta", msg})
	}
	if len(fields) > 0 {
		return store.LeadInput{}, invalid(fields...)
	}
	return store.LeadInput{ID: b.ID, Name: b.Name, Phone: b.Phone, Email: b.Email, Company: b.Company, Meta: b.Meta}, nil
}

// leadConflict turns a uniqueness failure into a 409 that says what clashed.
func leadConflict(err error, in store.LeadInput) error {
	if !errors.Is(err, store.ErrConflict) {
		return err
	}
	if in.ID != nil && *in.ID != "" {
		return problem(http.StatusConflict, CodeConflict, "a lead with this id or phone already exists")
	}
	return problem(http.StatusConflict, CodeConflict, "a lead with this phone already exists")
}

func (s *Server) createLead(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	in, err := decodeLead(body, true)
	if err != nil {
		return err
	}
	l, err := tenantOf(c).CreateLead(c.Request().Context(), in)
	if err != nil {
		return leadConflict(err, in)
	}
	return ok(c, http.StatusCreated, l)
}

func (s *Server) getLead(c echo.Context) error {
	id := c.Param("id")
	l, err := tenantOf(c).Lead(c.Request().Context(), id)
	if err != nil {
		return orNotFound(err, "lead", id)
	}
	return ok(c, http.StatusOK, l)
}

func (s *Server) updateLead(c echo.Context) error {
	id := c.Param("id")
	body, err := readBody(c)
	if err != nil {
		return err
	}
	in, err := decodeLead(body, false)
	if err != nil {
		return err
	}
	l, err := tenantOf(c).UpdateLead(c.Request().Context(), id, in)
	if err != nil {
		return orNotFound(leadConflict(err, in), "lead", id)
	}
	return ok(c, http.StatusOK, l)
}

func (s *Server) deleteLead(c echo.Context) error {
	id := c.Param("id")
	if err := tenantOf(c).DeleteLead(c.Request().Context(), id); err != nil {
		return orNotFound(err, "lead", id)
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) listLeads(c echo.Context) error {
	p, err := pageParams(c)
	if err != nil {
		return err
	}
	leads, total, err := tenantOf(c).ListLeads(c.Request().Context(), strings.TrimSpace(c.QueryParam("search")), p)
	if err != nil {
		return err
	}
	return okList(c, leads, total, p)
}
