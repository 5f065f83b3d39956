package web

import (
	"bytes"
	"html/template"
	"strings"
)

// The /docs page: server-rendered from the parsed OpenAPI document, no
// script, its only style element hashed into the CSP (see docsPage).

type docsPageData struct {
	Title, Version, Summary string
	Description             template.HTML
	Security                []docsParam
	Tags                    []docsTag
	Schemas                 []docsSchema
	CSS                     template.CSS
}

type docsTag struct {
	Name, Anchor string
	Description  template.HTML
	Ops          []docsOp
}

type docsOp struct {
	Method, Path, Anchor, Summary string
	NavPath                       template.HTML // Path with line-break opportunities after its slashes
	Deprecated                    bool
	Description                   template.HTML
	Auth                          string
	Params                        []docsParam
	Body                          *docsBody
	Responses                     []docsResponse
}

type docsParam struct {
	Name, In    string
	Type        template.HTML
	Required    bool
	Description template.HTML
}

type docsBody struct {
	Required    bool
	Description template.HTML
	Content     []docsContent
}

type docsContent struct {
	Type   string
	Inline template.HTML // a short schema shown beside the type (problem JSON)
	Schema template.HTML
}

type docsResponse struct {
	Status, Class string
	Description   template.HTML
	Headers       []docsParam
	Content       []docsContent
}

type docsSchema struct {
	Name, Anchor string
	Body         template.HTML
}

// renderDocs builds the page of a parsed document.
func renderDocs(d *oaDoc) ([]byte, error) {
	info := d.root.obj("info")
	data := docsPageData{Title: info.str("title"), Version: info.str("version"), Summary: info.str("summary"),
		Description: markdown(info.str("description")), CSS: template.CSS(docsCSS)}
	schemes := d.root.obj("components").obj("securitySchemes")
	for _, name := range schemes.Keys() {
		s := schemes.obj(name)
		kind := s.str("type")
		if s.str("scheme") != "" {
			kind += " " + s.str("scheme")
		}
		if s.str("in") != "" {
			kind += " in " + s.str("in") + " " + s.str("name")
		}
		data.Security = append(data.Security, docsParam{Name: name, Type: template.HTML(template.HTMLEscapeString(kind)), Description: markdown(s.str("description"))})
	}
	for _, t := range d.tags {
		dt := docsTag{Name: t.Name, Anchor: "tag-" + slug(t.Name), Description: markdown(t.Description)}
		for _, op := range t.Ops {
			dt.Ops = append(dt.Ops, d.docsOperation(op))
		}
		data.Tags = append(data.Tags, dt)
	}
	schemas := d.root.obj("components").obj("schemas")
	for _, name := range schemas.Keys() {
		data.Schemas = append(data.Schemas, docsSchema{Name: name, Anchor: "schema-" + name,
			Body: d.schemaBlock(schemas.obj(name), 0)})
	}
	var buf bytes.Buffer
	if err := docsTemplate.Execute(&buf, data); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (d *oaDoc) docsOperation(op oaOp) docsOp {
	n := op.Node
	out := docsOp{Method: strings.ToUpper(op.Method), Path: op.Path, Anchor: "op-" + op.ID, Summary: n.str("summary"),
		NavPath:     template.HTML(strings.ReplaceAll(template.HTMLEscapeString(op.Path), "/", "/<wbr>")),
		Description: markdown(n.str("description")), Deprecated: n.get("deprecated") == true}
	out.Auth = d.authText(n)
	var params []any
	params = append(params, d.root.obj("paths").obj(op.Path).list("parameters")...)
	params = append(params, n.list("parameters")...)
	for _, p := range params {
		out.Params = append(out.Params, d.docsParameter(p))
	}
	if body, _ := d.resolve(n.get("requestBody")); body != nil {
		out.Body = &docsBody{Required: body.get("required") == true, Description: markdown(body.str("description")),
			Content: d.docsContents(body.obj("content"))}
	}
	responses := n.obj("responses")
	for _, status := range responses.Keys() {
		r, _ := d.resolve(responses.get(status))
		dr := docsResponse{Status: status, Class: "s" + status[:1], Description: markdown(r.str("description")),
			Content: d.docsContents(r.obj("content"))}
		headers := r.obj("headers")
		for _, h := range headers.Keys() {
			hv, _ := d.resolve(headers.get(h))
			dr.Headers = append(dr.Headers, docsParam{Name: h, Required: hv.get("required") == true,
				Type: d.typeLabel(hv.obj("schema")), Description: markdown(hv.str("description"))})
		}
		out.Responses = append(out.Responses, dr)
	}
	return out
}

// authText says which credentials an operation takes.
func (d *oaDoc) authText(op *oaObj) string {
	sec, set := op.get("security").([]any)
	if !set {
		sec = d.root.list("security")
	}
	if len(sec) == 0 {
		return "none"
	}
	var alts []string
	for _, req := range sec {
		r, _ := req.(*oaObj)
		if len(r.Keys()) == 0 {
			alts = append(alts, "none")
			continue
		}
		alts = append(alts, strings.Join(r.Keys(), " + "))
	}
	return strings.Join(alts, " or ")
}

func (d *oaDoc) docsParameter(v any) docsParam {
	p, _ := d.resolve(v)
	desc := p.str("description")
	if c := constraints(d, p.obj("schema")); c != "" {
		desc = strings.TrimSpace(desc + " " + c)
	}
	return docsParam{Name: p.str("name"), In: p.str("in"), Required: p.get("required") == true,
		Type: d.typeLabel(p.obj("schema")), Description: markdown(desc)}
}

func (d *oaDoc) docsContents(content *oaObj) []docsContent {
	var out []docsContent
	for _, ct := range content.Keys() {
		schema := content.obj(ct).obj("schema")
		if _, name := d.resolve(schema); strings.HasPrefix(name, "Problem") {
			out = append(out, docsContent{Type: ct, Inline: d.typeLabel(schema)})
			continue
		}
		out = append(out, docsContent{Type: ct, Schema: d.schemaBlock(schema, 0)})
	}
	return out
}

// slug makes an anchor of a name.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

var docsTemplate = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} {{.Version}} — reference</title>
<style>{{.CSS}}</style>
</head>
<body>
<nav>
<p class="brand"><a href="#top">{{.Title}}</a> <span class="ver">{{.Version}}</span></p>
<p><a href="/openapi.json">openapi.json</a></p>
{{range .Tags}}<h4><a href="#{{.Anchor}}">{{.Name}}</a></h4>
<ul>{{range .Ops}}<li><a href="#{{.Anchor}}"><span class="m {{.Method}}">{{.Method}}</span> <span>{{.NavPath}}</span></a></li>{{end}}</ul>
{{end}}<h4><a href="#schemas">Schemas</a></h4>
<ul>{{range .Schemas}}<li><a href="#{{.Anchor}}">{{.Name}}</a></li>{{end}}</ul>
</nav>
<main id="top">
<header><h1>{{.Title}} <span class="ver">{{.Version}}</span></h1><p class="summary">{{.Summary}}</p></header>
<section class="intro">{{.Description}}
<h2>Authentication</h2>
<table><tr><th>scheme</th><th>type</th><th>description</th></tr>
{{range .Security}}<tr><td><code>{{.Name}}</code></td><td>{{.Type}}</td><td>{{.Description}}</td></tr>{{end}}
</table></section>
{{range .Tags}}<section class="tag" id="{{.Anchor}}">
<h2>{{.Name}}</h2>{{.Description}}
{{range .Ops}}<article class="op" id="{{.Anchor}}">
<h3><span class="m {{.Method}}">{{.Method}}</span> <code class="path">{{.Path}}</code></h3>
<p class="opsum">{{.Summary}}{{if .Deprecated}} <em>(deprecated)</em>{{end}} <span class="auth">auth: {{.Auth}}</span></p>
{{.Description}}
{{if .Params}}<h5>Parameters</h5>
<table class="params"><tr><th>name</th><th>in</th><th>type</th><th>description</th></tr>
{{range .Params}}<tr><td><code>{{.Name}}</code>{{if .Required}} <span class="req">required</span>{{end}}</td><td>{{.In}}</td><td class="type">{{.Type}}</td><td>{{.Description}}</td></tr>{{end}}
</table>{{end}}
{{with .Body}}<h5>Request body{{if .Required}} <span class="req">required</span>{{end}}</h5>{{.Description}}
{{range .Content}}<div class="ct"><code>{{.Type}}</code> {{.Inline}}</div>{{.Schema}}{{end}}{{end}}
<h5>Responses</h5>
{{range .Responses}}<div class="resp"><div class="rhead"><span class="st {{.Class}}">{{.Status}}</span> {{.Description}}</div>
{{range .Content}}<div class="ct"><code>{{.Type}}</code> {{.Inline}}</div>{{.Schema}}{{end}}
{{if .Headers}}<details><summary>headers</summary><table>{{range .Headers}}<tr><td><code>{{.Name}}</code>{{if .Required}} <span class="req">required</span>{{end}}</td><td class="type">{{.Type}}</td><td>{{.Description}}</td></tr>{{end}}</table></details>{{end}}
</div>{{end}}
</article>
{{end}}</section>
{{end}}<section id="schemas"><h2>Schemas</h2>
{{range .Schemas}}<article class="schema" id="{{.Anchor}}"><h3>{{.Name}}</h3>{{.Body}}</article>
{{end}}</section>
</main>
</body>
</html>
`))

// docsCSS is the page's only style; its hash is in the CSP.
const docsCSS = `
:root{--fg:#1d2330;--mut:#5b6475;--line:#e2e6ee;--bg:#fff;--side:#f6f8fb;--code:#f1f3f7;--acc:#2f5fd0}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);display:flex}
nav{position:sticky;top:0;height:100vh;overflow:auto;width:300px;flex:none;background:var(--side);border-right:1px solid var(--line);padding:16px 14px;font-size:13px}
nav h4{margin:14px 0 4px;font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--mut)}
nav ul{list-style:none;margin:0;padding:0}
nav li{margin:2px 0}
nav li a{display:flex;gap:6px;align-items:baseline;color:var(--fg);text-decoration:none}
nav a{color:var(--fg);text-decoration:none}
nav .m{flex:none}
nav a:hover{color:var(--acc)}
.brand{font-size:17px;font-weight:600;margin:0 0 4px}
main{flex:1;min-width:0;padding:24px 40px 80px;max-width:1100px}
h1{margin:0 0 4px;font-size:28px}
h2{margin:40px 0 8px;padding-bottom:6px;border-bottom:2px solid var(--line);font-size:22px}
h3{margin:0 0 4px;font-size:17px;font-weight:600;display:flex;align-items:center;gap:10px;flex-wrap:wrap}
h4{margin:18px 0 6px;font-size:16px}
h5{margin:14px 0 6px;font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:var(--mut)}
.ver{font-size:13px;font-weight:400;color:var(--mut);border:1px solid var(--line);border-radius:10px;padding:0 8px;vertical-align:middle}
.summary{color:var(--mut);margin:0 0 12px}
code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--code);padding:1px 4px;border-radius:3px;overflow-wrap:anywhere}
.path{font-size:15px;background:none;padding:0}
.op,.schema{border:1px solid var(--line);border-radius:8px;padding:14px 18px;margin:16px 0;scroll-margin-top:12px}
.opsum{margin:0 0 6px;font-weight:500}
.auth{font-weight:400;font-size:12px;color:var(--mut);margin-left:8px}
.m{display:inline-block;min-width:58px;text-align:center;font:600 11px/18px ui-monospace,monospace;border-radius:4px;color:#fff;padding:0 4px}
nav .m{min-width:46px;font-size:10px;line-height:15px}
.GET{background:#2f7d4f}.POST{background:#2f5fd0}.PUT{background:#a36a00}.DELETE{background:#b3322b}.PATCH{background:#6b4bb3}
table{border-collapse:collapse;width:100%;margin:4px 0 8px;font-size:13.5px}
th,td{border:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{background:var(--side);font-weight:600;font-size:12px}
td p{margin:0 0 4px}
td:first-child{width:1%}
td:first-child code{white-space:nowrap;overflow-wrap:normal}
td table{margin-top:6px}
.type{color:#6b3fa0;white-space:normal;min-width:110px}
.type a{color:#6b3fa0}
.req{font-size:10px;color:#b3322b;text-transform:uppercase;font-weight:600}
.resp{border-top:1px dashed var(--line);padding:6px 0}
.rhead p{display:inline;margin:0}
.st{display:inline-block;font:600 12px/18px ui-monospace,monospace;border-radius:4px;padding:0 6px;margin-right:6px;color:#fff}
.s2{background:#2f7d4f}.s4{background:#a36a00}.s5{background:#b3322b}.s1,.s3{background:#5b6475}
.ct{margin:6px 0 2px;font-size:12px;color:var(--mut)}
.schemaref,.cond,.cons{margin:4px 0;font-size:13.5px}
.variants p{margin:4px 0}
.variants ul{margin:0;padding-left:20px}
details summary{cursor:pointer;font-size:12px;color:var(--mut)}
a{color:var(--acc)}
@media (max-width:800px){body{display:block}nav{position:static;width:auto;height:auto}main{padding:16px}}
`
