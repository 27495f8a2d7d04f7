package proxy

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
)

// maxEchoedHost caps the Host a 421 answer repeats back.
const maxEchoedHost = 100

// misdirected answers a request for a Host the gate does not serve (421,
// RFC 9110 §15.5.20). The answer says what to do, since the usual cause is
// a person who typed localhost where the issuer says 127.0.0.1 (or the
// other way round): the host it got, the issuer's, and the setting that
// would add the host. A browser's page view gets a small page, everything
// else MLflow's JSON error.
func (g *Gate) misdirected(c *call, r *http.Request) {
	got := r.Host
	if len(got) > maxEchoedHost {
		got = got[:maxEchoedHost] + "..."
	}
	issuer := g.origin
	if issuer == "" && len(g.hosts) > 0 {
		issuer = g.hosts[0].host
	}
	// Only a well-formed host is offered for the allowed list.
	addable := ""
	if _, err := parseHost(r.Host); err == nil && len(r.Host) <= maxEchoedHost && g.hostsEnv != "" {
		addable = strings.ToLower(r.Host)
	}
	g.metrics.Outcome(OutcomeMisdirected)
	if wantsPage(r) {
		g.misdirectedPage(c, got, issuer, addable)
		return
	}
	msg := fmt.Sprintf("this gate does not answer for host %q: its issuer is %s", got, issuer)
	if strings.Contains(issuer, "://") {
		msg += "; open " + issuer + "/ instead"
	}
	if addable != "" {
		msg += fmt.Sprintf(", or add %s to %s", addable, g.hostsEnv)
	}
	WriteError(c, http.StatusMisdirectedRequest, codeMisdirected, msg)
}

// wantsPage: a browser navigating to a page (not a script's fetch).
func wantsPage(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.Contains(r.Header.Get("Accept"), "text/html")
}

var misdirectedTmpl = template.Must(template.New("421").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Wrong address for this gate</title></head>
<body>
<h1>Wrong address for this gate</h1>
<p>This mlflow-gate does not answer for <code>{{.Got}}</code>. Its address (the issuer) is
{{if .Link}}<a href="{{.Link}}">{{.Issuer}}</a>{{else}}<code>{{.Issuer}}</code>{{end}}.</p>
<p>Open {{if .Link}}<a href="{{.Link}}">{{.Issuer}}</a>{{else}}the issuer's address{{end}} instead{{if .Add}},
or, to reach the gate at <code>{{.Got}}</code> too, add <code>{{.Add}}</code> to <code>{{.Setting}}</code>
and restart it{{end}}.</p>
</body></html>
`))

func (g *Gate) misdirectedPage(c *call, got, issuer, addable string) {
	data := struct{ Got, Issuer, Link, Add, Setting string }{Got: got, Issuer: issuer, Add: addable, Setting: g.hostsEnv}
	if strings.HasPrefix(issuer, "http://") || strings.HasPrefix(issuer, "https://") {
		data.Link = issuer + "/"
	}
	var b bytes.Buffer
	if err := misdirectedTmpl.Execute(&b, data); err != nil {
		WriteError(c, http.StatusMisdirectedRequest, codeMisdirected, "this gate does not answer for this host")
		return
	}
	h := c.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	c.WriteHeader(http.StatusMisdirectedRequest)
	_, _ = c.Write(b.Bytes())
}
