package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/parley-dev/parley/store"
)

// jsonLike says whether a request Content-Type may carry a JSON body. Besides
// JSON itself it admits text/plain and curl's default form type, so that a
// `curl -d '{…}'` without -H works; bodies are parsed as JSON regardless.
func jsonLike(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "text/plain" ||
		mt == "application/x-www-form-urlencoded"
}

// readBody reads the request body (already capped by the body limit) and
// refuses content types that cannot be JSON (415). An empty body reads as nil.
func readBody(c echo.Context) ([]byte, error) {
	if ct := c.Request().Header.Get("Content-Type"); ct != "" && !jsonLike(ct) {
		return nil, problem(http.StatusUnsupportedMediaType, CodeUnsupported, "Content-Type must be application/json")
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, errBodyTimeout) {
			return nil, err
		}
		return nil, problem(http.StatusBadRequest, CodeValidation, "could not read the request body")
	}
	return body, nil
}

// bindJSON decodes the request body into v. Unknown fields are ignored; every
// field of the wrong JSON type is listed.
func bindJSON(c echo.Context, v any) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	return decodeJSON(body, v, false)
}

// decodeJSON decodes a JSON object into v. With optional, an empty body is {}.
func decodeJSON(body []byte, v any, optional bool) error {
	fields, err := decodeFields(body, v, optional)
	if err != nil {
		return err
	}
	if len(fields) > 0 {
		return invalid(fields...)
	}
	return nil
}

// nulFields names the top-level fields whose value holds a NUL character
// (written \u0000) at any depth. No text Parley stores may hold one:
// PostgreSQL's text cannot, and a client's bytes must not be stored on one
// engine and refused on the other. The raw body is only searched for the
// escape; a field is decoded only when it is there.
func nulFields(body []byte, obj map[string]json.RawMessage) fieldErrors {
	if !bytes.Contains(body, []byte(`\u0000`)) {
		return nil
	}
	var fields fieldErrors
	for k, raw := range obj {
		var v any
		if bytes.Contains(raw, []byte(`\u0000`)) && json.Unmarshal(raw, &v) == nil && holdsNUL(v) {
			fields.add(k, "must not contain NUL characters (\\u0000)")
		}
	}
	sort.SliceStable(fields, func(i, j int) bool { return fields[i].Field < fields[j].Field })
	return fields
}

// holdsNUL reports whether a decoded JSON value has a NUL in a string or key.
func holdsNUL(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.IndexByte(x, 0) >= 0
	case []any:
		for _, e := range x {
			if holdsNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range x {
			if strings.IndexByte(k, 0) >= 0 || holdsNUL(e) {
				return true
			}
		}
	}
	return false
}

// decodeFields decodes a JSON object into v and returns, rather than fails
// on, the fields of the wrong JSON type: v holds every well-typed field, so
// that the caller can add its own checks and name every bad field in one
// answer (API.md §1). The error is for a body that is not a JSON object.
func decodeFields(body []byte, v any, optional bool) (fieldErrors, error) {
	if optional && len(trimSpace(body)) == 0 {
		return nil, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return nil, problem(http.StatusBadRequest, CodeValidation, "request body must be a JSON object")
	}
	nul := nulFields(body, obj)
	if err := json.Unmarshal(body, v); err == nil {
		return nul, nil
	}
	// Decode field by field so that every wrongly typed field is named.
	fields := nul
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		one, _ := json.Marshal(map[string]json.RawMessage{k: obj[k]})
		var te *json.UnmarshalTypeError
		if err := json.Unmarshal(one, v); errors.As(err, &te) {
			name := te.Field
			if name == "" {
				name = k
			}
			fields.add(name, "must be "+jsonTypeName(te.Type))
		} else if err != nil {
			fields.add(k, "is invalid")
		}
	}
	if len(fields) == 0 {
		return nil, problem(http.StatusBadRequest, CodeValidation, "request body is not valid JSON")
	}
	sort.SliceStable(fields, func(i, j int) bool { return fields[i].Field < fields[j].Field })
	return fields, nil
}

// fieldErrors collects the bad fields of a request, one entry per field: the
// first reason found (a wrong JSON type comes first) is the one reported.
type fieldErrors []FieldError

func (l *fieldErrors) add(field, message string) {
	for _, f := range *l {
		if f.Field == field {
			return
		}
	}
	*l = append(*l, FieldError{Field: field, Message: message})
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

func jsonTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "of another type"
}

// Pagination defaults of API.md §1.
const (
	defaultLimit = 20
	maxLimit     = 100
	// maxOffset keeps offset+limit (and SQLite's OFFSET) far from
	// overflowing; no list is that long.
	maxOffset = 1_000_000_000
)

// pageParams reads limit and offset.
func pageParams(c echo.Context) (store.Page, error) {
	p := store.Page{Limit: defaultLimit}
	var fields []FieldError
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			fields = append(fields, FieldError{"limit", "must be an integer"})
		case n < 1 || n > maxLimit:
			fields = append(fields, FieldError{"limit", "must be between 1 and 100"})
		default:
			p.Limit = n
		}
	}
	if v := c.QueryParam("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxOffset {
			fields = append(fields, FieldError{"offset", "must be an integer between 0 and 1000000000"})
		} else {
			p.Offset = n
		}
	}
	if len(fields) > 0 {
		return p, invalid(fields...)
	}
	return p, nil
}

// Pagination is the "pagination" member of offset lists.
type Pagination struct {
	Total   int  `json:"total"`
	Limit   int  `json:"limit"`
	Offset  int  `json:"offset"`
	HasMore bool `json:"has_more"`
}

type envelope struct {
	Success    bool        `json:"success"`
	Data       any         `json:"data"`
	Pagination *Pagination `json:"pagination,omitempty"`
}

func ok(c echo.Context, status int, data any) error {
	return c.JSON(status, envelope{Success: true, Data: data})
}

func okList(c echo.Context, data any, total int, p store.Page) error {
	return c.JSON(http.StatusOK, envelope{Success: true, Data: data, Pagination: &Pagination{
		Total: total, Limit: p.Limit, Offset: p.Offset, HasMore: p.Offset+p.Limit < total}})
}

// maxMetaDepth bounds how deeply meta objects nest: enough for any real
// metadata, and well inside what SQLite's JSON functions accept (1000).
const maxMetaDepth = 16

// metaProblem says what is wrong with a meta object, or "".
func metaProblem(m store.Meta) string {
	if depth(map[string]any(m)) > maxMetaDepth {
		return "must not nest deeper than 16 levels"
	}
	return ""
}

func depth(v any) int {
	d := 0
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	case store.Meta:
		return depth(map[string]any(x))
	case []any:
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	}
	return 0
}
