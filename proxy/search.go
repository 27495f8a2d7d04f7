package proxy

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-gate/mlflow-gate/authz"
)

// Filtered searches. When a caller's grants differ between resources, the
// answer of experiments/search, registered-models/search (prompts
// included) and model-versions/search keeps only what the caller may read.
// The gate asks MLflow page after page until the caller's max_results are
// filled, and hands out its own page token: MLflow's token of the page it
// stopped in, how many of that page's entries it had gone through, the page
// size, the caller and a digest of the search, sealed with an HMAC. A token
// is thus good for the same search by the same caller only, on every
// replica that shares the key, and cannot be forged to skip the filter.

// searchSpec is how one search route answers.
type searchSpec struct {
	list   string // the answer's array of results
	kind   authz.GrantKind
	defMax int // MLflow's max_results when the request gives none
}

func specOf(k authz.RouteKind) searchSpec {
	switch k {
	case authz.KindExperimentSearch:
		return searchSpec{list: "experiments", kind: authz.GrantExperiment, defMax: 1000}
	case authz.KindRegisteredModelSearch:
		return searchSpec{list: "registered_models", kind: authz.GrantRegisteredModel, defMax: 100}
	}
	return searchSpec{list: "model_versions", kind: authz.GrantRegisteredModel, defMax: 10000}
}

// Bounds on the work one filtered page may cost MLflow: past them the page
// is answered short, with a token to go on (clients page until no token).
const (
	searchMaxRounds = 25
	searchMaxTime   = 10 * time.Second
	searchMaxAnswer = 64 << 20 // one MLflow page, read whole
)

// searchPage is the state a gate page token carries.
type searchPage struct {
	User   string `json:"u"`
	Search string `json:"q"` // digest of route and parameters other than page_token and max_results
	Token  string `json:"t"` // MLflow's token of the page to resume in ("": the first)
	Skip   int    `json:"s"` // entries of that page already gone through
	Size   int    `json:"p"` // the page size asked of MLflow
}

// errBadPageToken: the page token is not one this gate issued for this search.
var errBadPageToken = errors.New("invalid page_token: it was not issued for this search by this caller")

func (g *Gate) sealPage(p searchPage) string {
	b, _ := json.Marshal(p)
	m := hmac.New(sha256.New, g.pageKey)
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (g *Gate) openPage(tok, user, search string) (searchPage, error) {
	body, mac, ok := strings.Cut(tok, ".")
	if !ok || len(tok) > 8<<10 {
		return searchPage{}, errBadPageToken
	}
	b, err1 := base64.RawURLEncoding.DecodeString(body)
	sum, err2 := base64.RawURLEncoding.DecodeString(mac)
	if err1 != nil || err2 != nil {
		return searchPage{}, errBadPageToken
	}
	m := hmac.New(sha256.New, g.pageKey)
	m.Write(b)
	if !hmac.Equal(sum, m.Sum(nil)) {
		return searchPage{}, errBadPageToken
	}
	var p searchPage
	if json.Unmarshal(b, &p) != nil || p.User != user || p.Search != search || p.Skip < 0 || p.Size <= 0 {
		return searchPage{}, errBadPageToken
	}
	return p, nil
}

// searchRequest is the caller's search: its parameters without page_token
// and max_results, which the gate sets on each page it asks for.
type searchRequest struct {
	query  url.Values                 // GET
	body   map[string]json.RawMessage // POST
	max    int                        // the caller's max_results (0: none given)
	token  string                     // the caller's page_token
	digest string
}

func readSearch(method, rawQuery string, body []byte, routeKey, user string) (*searchRequest, error) {
	s := &searchRequest{}
	var maxText string
	if method == http.MethodGet || method == http.MethodHead {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return nil, errors.New("the query string is malformed")
		}
		maxText, s.token = q.Get("max_results"), q.Get("page_token")
		q.Del("max_results")
		q.Del("page_token")
		s.query = q
	} else {
		m := map[string]json.RawMessage{}
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, &m); err != nil {
				var inner string
				if json.Unmarshal(body, &inner) != nil || json.Unmarshal([]byte(inner), &m) != nil {
					return nil, errors.New("the request body is not a JSON object")
				}
			}
		}
		for _, k := range []string{"max_results", "maxResults", "page_token", "pageToken"} {
			v, ok := m[k]
			if !ok {
				continue
			}
			delete(m, k)
			var str string
			var num json.Number
			switch {
			case string(v) == "null":
			case json.Unmarshal(v, &str) == nil:
			case json.Unmarshal(v, &num) == nil:
				str = num.String()
			default:
				return nil, fmt.Errorf("%s must be a string or a number", k)
			}
			if strings.HasPrefix(k, "max") {
				maxText = str
			} else {
				s.token = str
			}
		}
		s.body = m
	}
	if maxText != "" {
		n, err := strconv.Atoi(maxText)
		if err != nil || n <= 0 {
			return nil, errors.New("max_results must be a positive integer")
		}
		s.max = n
	}
	h := sha256.New()
	h.Write([]byte(routeKey + "\x00" + user + "\x00"))
	if s.query != nil {
		keys := make([]string, 0, len(s.query))
		for k := range s.query {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(h, "%q=%q;", k, s.query[k])
		}
	} else {
		b, _ := json.Marshal(s.body) // map keys sorted
		h.Write(b)
	}
	s.digest = base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:18])
	return s, nil
}

// serveFiltered answers a search with only the resources the caller may
// read. Errors from MLflow are passed on as for any call.
func (g *Gate) serveFiltered(c *call, w http.ResponseWriter, r *http.Request, subject authz.Subject, rt *authz.Route, body []byte) {
	spec := specOf(rt.Kind)
	sr, err := readSearch(r.Method, c.rawQuery, body, rt.Pattern, subject.Name)
	if err != nil {
		WriteError(c, http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	state := searchPage{User: subject.Name, Search: sr.digest, Size: sr.max}
	if state.Size == 0 {
		state.Size = spec.defMax
	}
	if sr.token != "" {
		if state, err = g.openPage(sr.token, subject.Name, sr.digest); err != nil {
			WriteError(c, http.StatusBadRequest, codeBadRequest, err.Error())
			return
		}
	}
	want := sr.max
	if want == 0 {
		want = spec.defMax
	}
	set := g.grants.Load()
	ctx, cancel := context.WithTimeout(r.Context(), searchMaxTime+5*time.Second)
	defer cancel()
	deadline := time.Now().Add(searchMaxTime)
	var kept []json.RawMessage
	next := ""
	for round := 0; ; round++ {
		page, status, raw, err := g.searchOnce(ctx, c, r, sr, state, spec)
		if err != nil {
			g.errorHandler(c, r.WithContext(context.WithValue(r.Context(), callKey{}, c)), err)
			return
		}
		if status != http.StatusOK {
			g.passError(c, r, status, raw)
			return
		}
		items := page.items
		i := min(state.Skip, len(items))
		for ; i < len(items) && len(kept) < want; i++ {
			if ref, ok := refOf(spec, items[i]); ok {
				if level, _, _ := set.LevelOf(subject.Name, subject.Roles, ref); level.Allows(authz.ScopeRead) {
					kept = append(kept, items[i])
				}
			}
		}
		switch {
		case i < len(items): // full before the page ended: resume inside it
			state.Skip = i
			next = g.sealPage(state)
		case page.next == "":
			next = ""
		default:
			state.Token, state.Skip = page.next, 0
			next = g.sealPage(state)
		}
		if next == "" || len(kept) >= want || round+1 >= searchMaxRounds || time.Now().After(deadline) {
			break
		}
	}
	out := map[string]any{}
	if len(kept) > 0 {
		out[spec.list] = kept
	}
	if next != "" {
		out["next_page_token"] = next
	}
	b, _ := json.Marshal(out)
	h := c.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	c.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = c.Write(b)
	}
}

type mlflowPage struct {
	items []json.RawMessage
	next  string
}

// searchOnce asks MLflow for one page, as the caller.
func (g *Gate) searchOnce(ctx context.Context, c *call, r *http.Request, sr *searchRequest, st searchPage, spec searchSpec) (mlflowPage, int, []byte, error) {
	target := g.upstream.Scheme + "://" + g.upstream.Host + g.basePath + c.rawPath
	var body io.Reader
	if sr.query != nil {
		q := url.Values{}
		for k, v := range sr.query {
			q[k] = v
		}
		q.Set("max_results", strconv.Itoa(st.Size))
		if st.Token != "" {
			q.Set("page_token", st.Token)
		}
		target += "?" + q.Encode()
	} else {
		m := make(map[string]any, len(sr.body)+2)
		for k, v := range sr.body {
			m[k] = v
		}
		m["max_results"] = st.Size
		if st.Token != "" {
			m["page_token"] = st.Token
		}
		b, _ := json.Marshal(m)
		body = bytes.NewReader(b)
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return mlflowPage{}, 0, nil, err
	}
	req.Host = g.upstream.Host
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Mlflow-Gate-User", c.principal.Username)
	if c.principal.ClientID != "" {
		req.Header.Set("X-Mlflow-Gate-Client", c.principal.ClientID)
	}
	if ws := r.Header.Get("X-Mlflow-Workspace"); g.workspaces && ws != "" {
		req.Header.Set("X-Mlflow-Workspace", ws)
	}
	resp, err := g.transport.RoundTrip(req)
	if err != nil {
		return mlflowPage{}, 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, searchMaxAnswer+1))
	if err != nil {
		return mlflowPage{}, 0, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return mlflowPage{}, resp.StatusCode, raw, nil
	}
	if len(raw) > searchMaxAnswer {
		return mlflowPage{}, 0, nil, errors.New("MLflow's search page is larger than the gate reads")
	}
	var page struct{ Next string }
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		return mlflowPage{}, 0, nil, fmt.Errorf("MLflow's search answer is not JSON: %w", err)
	}
	if t, ok := all["next_page_token"]; ok {
		_ = json.Unmarshal(t, &page.Next)
	}
	var items []json.RawMessage
	if l, ok := all[spec.list]; ok {
		if err := json.Unmarshal(l, &items); err != nil {
			return mlflowPage{}, 0, nil, fmt.Errorf("MLflow's %s is not a list: %w", spec.list, err)
		}
	}
	return mlflowPage{items: items, next: page.Next}, http.StatusOK, nil, nil
}

// refOf is the resource a search result belongs to.
func refOf(spec searchSpec, item json.RawMessage) (authz.ResourceRef, bool) {
	var v struct {
		ID   string `json:"experiment_id"`
		Name string `json:"name"`
	}
	if json.Unmarshal(item, &v) != nil || v.Name == "" {
		return authz.ResourceRef{}, false
	}
	if spec.kind == authz.GrantExperiment {
		if v.ID == "" {
			return authz.ResourceRef{}, false
		}
		return authz.ResourceRef{Kind: spec.kind, ID: v.ID, Name: v.Name}, true
	}
	return authz.ResourceRef{Kind: spec.kind, ID: v.Name, Name: v.Name}, true
}

// passError answers an MLflow refusal of a search page as the proxy would
// have passed it on: its status and error code, without server internals.
func (g *Gate) passError(c *call, r *http.Request, status int, raw []byte) {
	resp := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(raw)), ContentLength: int64(len(raw)),
		Request: r.WithContext(context.WithValue(r.Context(), callKey{}, c))}
	if status >= 500 {
		g.hideServerError(c, resp)
	} else if len(raw) <= maxLoggedError {
		g.hideClientErrorInternals(c, resp)
	} else {
		setErrorBody(resp, errorCodeOf(raw, "INVALID_PARAMETER_VALUE"), "MLflow refused the search")
	}
	b, _ := io.ReadAll(resp.Body)
	for k, v := range resp.Header {
		c.Header()[k] = v
	}
	c.Header().Set("Content-Length", strconv.Itoa(len(b)))
	c.WriteHeader(status)
	_, _ = c.Write(b)
}

// errNotFiltered: a GraphQL answer the gate had to filter could not be read.
var errNotFiltered = errors.New("proxy: the GraphQL answer could not be filtered")

// maxGraphQLAnswer bounds the GraphQL answers the gate filters (the UI's
// run page asks for one run's data).
const maxGraphQLAnswer = 32 << 20

// filterGraphQL removes, from every modelVersions list in a GraphQL
// answer, the versions of registered models the caller may not read: the
// run resolvers list a run's model versions without checking their models.
func (g *Gate) filterGraphQL(c *call, resp *http.Response) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxGraphQLAnswer+1))
	_ = resp.Body.Close()
	if err != nil || len(b) > maxGraphQLAnswer || resp.Header.Get("Content-Encoding") != "" {
		return fmt.Errorf("%w: %v", errNotFiltered, err)
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("%w: %w", errNotFiltered, err)
	}
	set := g.grants.Load()
	readable := func(name string) bool {
		level, _, _ := set.LevelOf(c.principal.Username, c.principal.Roles,
			authz.ResourceRef{Kind: authz.GrantRegisteredModel, ID: name, Name: name})
		return level.Allows(authz.ScopeRead)
	}
	if dropVersions(doc, readable) {
		if b, err = json.Marshal(doc); err != nil {
			return fmt.Errorf("%w: %w", errNotFiltered, err)
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	resp.TransferEncoding = nil
	return nil
}

// dropVersions filters every "modelVersions" array below v in place and
// reports whether it removed anything. A version without a name is dropped.
func dropVersions(v any, readable func(string) bool) bool {
	changed := false
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			if list, ok := child.([]any); ok && k == "modelVersions" {
				kept := list[:0]
				for _, e := range list {
					m, _ := e.(map[string]any)
					if name, _ := m["name"].(string); name != "" && readable(name) {
						kept = append(kept, e)
					}
				}
				if len(kept) != len(list) {
					changed = true
				}
				x[k] = kept
				continue
			}
			changed = dropVersions(child, readable) || changed
		}
	case []any:
		for _, e := range x {
			changed = dropVersions(e, readable) || changed
		}
	}
	return changed
}
