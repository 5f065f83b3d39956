package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"regexp"
	"strings"
)

// Schema and text rendering of the /docs page. Everything taken from the
// document is HTML-escaped before any markup is added.

// maxSchemaDepth bounds how deeply inline objects are expanded.
const maxSchemaDepth = 4

// schemaBlock renders a schema: a table of its properties, its variants or
// its type. A reference at the top of a body is expanded (errors excepted);
// deeper ones are links to the Schemas section.
func (d *oaDoc) schemaBlock(s *oaObj, depth int) template.HTML {
	if s == nil {
		return ""
	}
	if s.str("$ref") != "" {
		target, name := d.resolve(s)
		if depth > 0 || strings.HasPrefix(name, "Problem") || target == nil {
			return template.HTML(`<p class="schemaref">` + string(d.typeLabel(s)) + ` ` + string(firstSentence(target.str("description"))) + `</p>`)
		}
		return template.HTML(`<p class="schemaref">`+string(d.typeLabel(s))+`</p>`) + d.schemaBlock(target, depth+1)
	}
	var b strings.Builder
	if desc := s.str("description"); desc != "" && depth <= 1 {
		b.WriteString(string(markdown(desc)))
	}
	props := s.obj("properties")
	switch {
	case len(props.Keys()) > 0:
		b.WriteString(string(d.propertyTable(s, depth)))
	case s.get("items") != nil && (depth == 0 || !isRef(s.get("items"))):
		// A list at the top of a body shows its item's fields too.
		b.WriteString(`<p class="type">` + string(d.typeLabel(s)) + `</p>`)
		items, _ := d.resolve(s.get("items"))
		b.WriteString(string(d.schemaBlock(items, depth+1)))
	case s.get("oneOf") != nil || s.get("anyOf") != nil:
		b.WriteString(string(d.variants(s, depth)))
	default:
		b.WriteString(`<p class="type">` + string(d.typeLabel(s)) + `</p>`)
	}
	for _, c := range s.list("allOf") {
		c, _ := c.(*oaObj)
		if c.get("if") != nil {
			b.WriteString(`<p class="cond">` + conditionText(c) + `</p>`)
		}
	}
	if c := constraints(d, s); c != "" && len(props.Keys()) > 0 {
		b.WriteString(`<p class="cons">` + string(inline(c)) + `</p>`)
	}
	return template.HTML(b.String())
}

func (d *oaDoc) propertyTable(s *oaObj, depth int) template.HTML {
	required := map[string]bool{}
	for _, r := range s.list("required") {
		required[fmt.Sprint(r)] = true
	}
	props := s.obj("properties")
	var b strings.Builder
	b.WriteString(`<table class="props"><tr><th>field</th><th>type</th><th>description</th></tr>`)
	for _, name := range props.Keys() {
		p := props.obj(name)
		b.WriteString(`<tr><td><code>` + template.HTMLEscapeString(name) + `</code>`)
		if required[name] {
			b.WriteString(` <span class="req">required</span>`)
		}
		b.WriteString(`</td><td class="type">` + string(d.typeLabel(p)) + `</td><td>`)
		b.WriteString(string(markdown(strings.TrimSpace(p.str("description") + " " + constraints(d, p)))))
		if depth < maxSchemaDepth && p.str("$ref") == "" {
			if len(p.obj("properties").Keys()) > 0 {
				b.WriteString(string(d.propertyTable(p, depth+1)))
			} else if items := p.obj("items"); items != nil && len(items.obj("properties").Keys()) > 0 {
				b.WriteString(string(d.propertyTable(items, depth+1)))
			} else if p.get("oneOf") != nil && hasInlineObject(p.list("oneOf")) {
				b.WriteString(string(d.variants(p, depth+1)))
			}
		}
		b.WriteString(`</td></tr>`)
	}
	b.WriteString(`</table>`)
	return template.HTML(b.String())
}

// variants lists the alternatives of a oneOf or anyOf, expanding inline objects.
func (d *oaDoc) variants(s *oaObj, depth int) template.HTML {
	list, word := s.list("oneOf"), "One of"
	if list == nil {
		list, word = s.list("anyOf"), "Any of"
	}
	var b strings.Builder
	b.WriteString(`<div class="variants"><p>` + word + `:</p><ul>`)
	for _, v := range list {
		v, _ := v.(*oaObj)
		b.WriteString(`<li>` + string(d.typeLabel(v)))
		if len(v.obj("properties").Keys()) > 0 && depth < maxSchemaDepth {
			b.WriteString(string(d.propertyTable(v, depth+1)))
		}
		b.WriteString(`</li>`)
	}
	b.WriteString(`</ul></div>`)
	return template.HTML(b.String())
}

// hasInlineObject says whether a variant is an object described in place.
func hasInlineObject(list []any) bool {
	for _, v := range list {
		if o, _ := v.(*oaObj); len(o.obj("properties").Keys()) > 0 {
			return true
		}
	}
	return false
}

func isRef(v any) bool {
	o, _ := v.(*oaObj)
	return o.str("$ref") != ""
}

// typeLabel is a one-line description of a schema's type, with links.
func (d *oaDoc) typeLabel(s *oaObj) template.HTML {
	if s == nil {
		return "any"
	}
	if ref := s.str("$ref"); ref != "" {
		_, name := d.resolve(s)
		return template.HTML(`<a href="#schema-` + template.HTMLEscapeString(name) + `">` + template.HTMLEscapeString(name) + `</a>`)
	}
	if c, ok := s.vals["const"]; ok {
		return template.HTML("<code>" + template.HTMLEscapeString(jsonText(c)) + "</code>")
	}
	if enum := s.list("enum"); enum != nil {
		parts := make([]string, len(enum))
		for i, e := range enum {
			parts[i] = "<code>" + template.HTMLEscapeString(jsonText(e)) + "</code>"
		}
		return template.HTML(strings.Join(parts, " | "))
	}
	for _, k := range []string{"oneOf", "anyOf", "allOf"} {
		if list := s.list(k); list != nil {
			var parts []string
			for _, v := range list {
				v, _ := v.(*oaObj)
				if v.get("if") == nil && (len(v.Keys()) > 0) {
					parts = append(parts, string(d.typeLabel(v)))
				}
			}
			sep := " | "
			if k == "allOf" {
				sep = " &amp; "
			}
			if len(parts) > 0 {
				return template.HTML(strings.Join(parts, sep))
			}
		}
	}
	var types []string
	switch t := s.get("type").(type) {
	case string:
		types = []string{t}
	case []any:
		for _, e := range t {
			types = append(types, fmt.Sprint(e))
		}
	}
	if len(types) == 0 {
		if len(s.obj("properties").Keys()) > 0 {
			types = []string{"object"}
		} else {
			return "any"
		}
	}
	for i, t := range types {
		switch {
		case t == "array" && s.get("items") != nil:
			items, _ := s.get("items").(*oaObj)
			types[i] = "array of " + string(d.typeLabel(items))
		case s.str("format") != "" && t != "null":
			types[i] = t + " (" + template.HTMLEscapeString(s.str("format")) + ")"
		default:
			types[i] = template.HTMLEscapeString(t)
		}
	}
	return template.HTML(strings.Join(types, " | "))
}

// constraints describes a schema's bounds, pattern and default in words.
func constraints(d *oaDoc, s *oaObj) string {
	if s == nil {
		return ""
	}
	var c []string
	add := func(key, label string) {
		if v, ok := s.vals[key]; ok {
			c = append(c, label+" "+jsonText(v))
		}
	}
	add("minimum", "min")
	add("maximum", "max")
	add("minLength", "min length")
	add("maxLength", "max length")
	add("minItems", "min items")
	add("maxItems", "max items")
	add("default", "default")
	if p := s.str("pattern"); p != "" {
		c = append(c, "pattern `"+p+"`")
	}
	if len(c) == 0 {
		return ""
	}
	return "(" + strings.Join(c, ", ") + ")"
}

// conditionText renders an if/then/else of an allOf entry.
func conditionText(c *oaObj) string {
	cond := func(o *oaObj) string {
		var parts []string
		props := o.obj("properties")
		for _, k := range props.Keys() {
			if v, ok := props.obj(k).vals["const"]; ok {
				parts = append(parts, "<code>"+template.HTMLEscapeString(k)+"</code> is <code>"+template.HTMLEscapeString(jsonText(v))+"</code>")
			}
		}
		return strings.Join(parts, " and ")
	}
	req := func(o *oaObj) string {
		var parts []string
		for _, r := range o.list("required") {
			parts = append(parts, "<code>"+template.HTMLEscapeString(fmt.Sprint(r))+"</code>")
		}
		return strings.Join(parts, ", ") + " required"
	}
	out := "When " + cond(c.obj("if")) + ": " + req(c.obj("then"))
	if e := c.obj("else"); e != nil {
		out += "; otherwise " + req(e)
	}
	return out + "."
}

func jsonText(v any) string {
	if o, ok := v.(*oaObj); ok {
		return fmt.Sprintf("{%s}", strings.Join(o.Keys(), ", "))
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func firstSentence(s string) template.HTML {
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i+1]
	}
	return inline(s)
}

var mdBold = regexp.MustCompile(`\*\*([^*]+)\*\*`)

// inline escapes s and renders `code` and **bold**.
func inline(s string) template.HTML {
	parts := strings.Split(s, "`")
	var b strings.Builder
	for i, p := range parts {
		switch {
		case i%2 == 1 && i < len(parts)-1:
			b.WriteString("<code>" + template.HTMLEscapeString(p) + "</code>")
		case i%2 == 1:
			b.WriteString("`" + mdBold.ReplaceAllString(template.HTMLEscapeString(p), "<strong>$1</strong>"))
		default:
			b.WriteString(mdBold.ReplaceAllString(template.HTMLEscapeString(p), "<strong>$1</strong>"))
		}
	}
	return template.HTML(b.String())
}

// markdown renders the subset of Markdown the document uses: paragraphs,
// "- " lists, "## " headings, `code` and **bold**.
func markdown(s string) template.HTML {
	var b strings.Builder
	for _, block := range strings.Split(strings.TrimSpace(s), "\n\n") {
		lines := strings.Split(strings.TrimSpace(block), "\n")
		switch {
		case lines[0] == "":
		case strings.HasPrefix(lines[0], "## "):
			b.WriteString("<h4>" + string(inline(strings.TrimPrefix(lines[0], "## "))) + "</h4>")
			if rest := strings.Join(lines[1:], "\n"); rest != "" {
				b.WriteString(string(markdown(rest)))
			}
		case strings.HasPrefix(lines[0], "- "):
			var items []string
			for _, l := range lines {
				if strings.HasPrefix(l, "- ") || len(items) == 0 {
					items = append(items, strings.TrimPrefix(l, "- "))
				} else {
					items[len(items)-1] += " " + strings.TrimSpace(l)
				}
			}
			b.WriteString("<ul>")
			for _, item := range items {
				b.WriteString("<li>" + string(inline(item)) + "</li>")
			}
			b.WriteString("</ul>")
		default:
			b.WriteString("<p>" + string(inline(strings.Join(lines, " "))) + "</p>")
		}
	}
	return template.HTML(b.String())
}
