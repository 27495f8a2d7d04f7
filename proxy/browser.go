package proxy

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mlflow-gate/mlflow-gate/authz"
)

// KindSession is the credential kind of a caller identified by the provider's
// single-sign-on session cookie (a browser in the MLflow UI).
const KindSession = "session"

// apiPrefixes are the paths of programmatic callers: without credentials they
// get MLflow's 401 JSON, never a redirect to the login page.
var apiPrefixes = []string{"/api/", "/ajax-api/", "/graphql", "/get-artifact", "/model-versions/get-artifact", "/v1/traces", "/gateway/"}

func isAPIPath(path string) bool {
	for _, p := range apiPrefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// isPublic reports the UI's assets, which MLflow serves to anyone and which
// carry no data: forwarded without identity.
func isPublic(method, path string) bool {
	return (method == http.MethodGet || method == http.MethodHead) &&
		(strings.HasPrefix(path, "/static-files/") || path == "/favicon.ico")
}

// wantsLogin reports a request for the UI that should be sent to the login
// page rather than answered 401: GET or HEAD of /, or a GET of any path that is
// not an API path.
func wantsLogin(method, path string) bool {
	if path == "/" {
		return method == http.MethodGet || method == http.MethodHead
	}
	return method == http.MethodGet && !isAPIPath(path)
}

// redirectToLogin answers 303 to the login page with the request's own path and
// query as return_to (a path, never an absolute URL; the login page validates it).
func (g *Gate) redirectToLogin(c *call, r *http.Request) {
	target := c.rawPath
	if c.rawQuery != "" {
		target += "?" + c.rawQuery
	}
	h := c.Header()
	h.Set("Location", g.loginPath+"?return_to="+url.QueryEscape(target))
	h.Set("Cache-Control", "no-store")
	g.metrics.Outcome(OutcomeUnauthenticated)
	c.WriteHeader(http.StatusSeeOther)
}

// safeMethod: a method that changes nothing.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sessionOriginOK is the cross-site rule for cookie callers: a request that may
// change anything is allowed only when Origin is exactly the issuer's origin
// (scheme, host and port: sibling subdomains are cross-origin), or, without
// Origin, when Sec-Fetch-Site says same-origin. A gate without a configured
// origin refuses every such request.
func (g *Gate) sessionOriginOK(r *http.Request) bool {
	if safeMethod(r.Method) {
		// GraphQL reads its body on GET too; a GET body is refused later
		// (GraphQL's route reads the body, so a GET mutation is refused here).
		return !(r.ContentLength != 0 && strings.HasPrefix(r.URL.Path, "/graphql"))
	}
	origin := r.Header.Values("Origin")
	switch len(origin) {
	case 0:
		return r.Header.Get("Sec-Fetch-Site") == "same-origin"
	case 1:
		return g.origin != "" && origin[0] == g.origin
	}
	return false
}

// currentUserPaths are where the MLflow UI asks who the user is (MLflow's
// basic-auth app serves them; plain MLflow does not): the gate answers from
// the principal.
func isCurrentUser(method, path string) bool {
	return (method == http.MethodGet || method == http.MethodHead) &&
		(path == "/ajax-api/2.0/mlflow/users/current" || path == "/api/2.0/mlflow/users/current")
}

// answerCurrentUser writes the principal in MLflow basic-auth's shape
// (server/auth get_current_user). The id is the gate's stable user id.
func answerCurrentUser(w http.ResponseWriter, method string, p Principal) {
	type user struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		IsAdmin  bool   `json:"is_admin"`
	}
	b, _ := json.Marshal(struct {
		User        user `json:"user"`
		IsBasicAuth bool `json:"is_basic_auth"`
	}{user{p.Subject, p.Username, slices.Contains(p.Roles, authz.RoleAdmin)}, false})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if method != http.MethodHead {
		_, _ = w.Write(b)
	}
}
