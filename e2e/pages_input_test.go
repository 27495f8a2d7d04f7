package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestPagesBadInputReRendersWithAMessage posts bad input to every form of
// the pages and checks each answer: a 4xx with the form shown again, a
// message saying what is wrong, and nothing changed.
func TestPagesBadInputReRendersWithAMessage(t *testing.T) {
	h := newPagesRig(t)
	seedPages(t, h)
	admin := httpSignIn(t, h.g.URL, "admin", pagesAdminPassword)
	dbURL := h.env["MLFLOW_GATE_DATABASE_URL"]
	changes := func() int {
		return auditCount(t, dbURL, "action NOT LIKE 'login.%' AND action NOT LIKE 'mlflow.%' AND action <> 'auth.failures'")
	}
	before := changes()
	type bad struct {
		path    string
		form    url.Values
		status  int
		message string
		// form is a piece of the page that must be there again (the form).
		again string
	}
	cases := map[string]bad{
		"user: bad name":        {"/gate/admin/users", url.Values{"username": {"bad name"}}, 400, "letters, digits", `action="/gate/admin/users"`},
		"user: no name":         {"/gate/admin/users", url.Values{"username": {""}}, 400, "Give the user a name", `action="/gate/admin/users"`},
		"user: weak password":   {"/gate/admin/users", url.Values{"username": {"dave"}, "password_mode": {"type"}, "password": {"password"}}, 400, "password", `value="dave"`},
		"user: typed, empty":    {"/gate/admin/users", url.Values{"username": {"dave"}, "password_mode": {"type"}}, 400, "Type the password", `value="dave"`},
		"user: duplicate":       {"/gate/admin/users", url.Values{"username": {"Alice"}}, 409, "already exists", `action="/gate/admin/users"`},
		"user: unknown role":    {"/gate/admin/users", url.Values{"username": {"dave"}, "roles": {"Nope"}}, 404, "Nope", `action="/gate/admin/users"`},
		"grant: missing role":   {"/gate/admin/users/alice/roles", url.Values{"role": {"Nope"}}, 404, "Nope", `action="/gate/admin/users/alice/roles"`},
		"grant: no role":        {"/gate/admin/users/alice/roles", url.Values{}, 400, "Choose a role", `action="/gate/admin/users/alice/roles"`},
		"revoke: last Admin":    {"/gate/admin/users/admin/roles/Admin/revoke", url.Values{}, 409, "last enabled Admin", "Disable admin"},
		"disable: last Admin":   {"/gate/admin/users/admin/disable", url.Values{}, 409, "last enabled Admin", "Disable admin"},
		"reset: weak password":  {"/gate/admin/users/alice/password", url.Values{"password_mode": {"type"}, "password": {"alice12345678"}}, 400, "password", "Reset password"},
		"role: bad name":        {"/gate/admin/roles", url.Values{"name": {"1 bad"}}, 400, "role name", `action="/gate/admin/roles"`},
		"role: duplicate":       {"/gate/admin/roles", url.Values{"name": {"Reviewers"}}, 409, "already exists", `action="/gate/admin/roles"`},
		"role: delete held":     {"/gate/admin/roles/Reviewers/delete", url.Values{}, 409, "held by 1 users", "Delete role Reviewers"},
		"role: delete Default":  {"/gate/admin/roles/Default/delete", url.Values{}, 409, "built in", "Delete role Default"},
		"role: long desc":       {"/gate/admin/roles/Reviewers/describe", url.Values{"description": {strings.Repeat("x", 201)}}, 400, "200 characters", "Delete role Reviewers"},
		"client: bad id":        {"/gate/admin/clients", url.Values{"id": {"x"}, "kind": {"service"}}, 400, "client id", `action="/gate/admin/clients"`},
		"client: no kind":       {"/gate/admin/clients", url.Values{"id": {"good-id"}}, 400, "what kind", `action="/gate/admin/clients"`},
		"client: bad redirect":  {"/gate/admin/clients", url.Values{"id": {"web-app"}, "kind": {"confidential"}, "redirect_uris": {"http://evil.example/cb"}}, 400, "redirect", `value="web-app"`},
		"client: no redirect":   {"/gate/admin/clients", url.Values{"id": {"web-app"}, "kind": {"confidential"}}, 400, "redirect URI", `value="web-app"`},
		"client: unknown role":  {"/gate/admin/clients", url.Values{"id": {"svc-x"}, "kind": {"service"}, "roles": {"Nope"}}, 404, "Nope", `value="svc-x"`},
		"client: delete cli":    {"/gate/admin/clients/mlflow-gate-cli/delete", url.Values{}, 400, "built in", "mlflow-gate-cli"},
		"client: roles missing": {"/gate/admin/clients/nightly-eval/roles", url.Values{"roles": {"Nope"}}, 404, "Nope", "Save roles"},
		"token: no name":        {"/gate/me/tokens", url.Values{"days": {"30"}}, 400, "Give the token a name", `action="/gate/me/tokens"`},
		"token: zero days":      {"/gate/me/tokens", url.Values{"name": {"x"}, "days": {"0"}}, 400, "whole number of days", `value="x"`},
		"token: too long":       {"/gate/me/tokens", url.Values{"name": {"x"}, "days": {"5000"}}, 400, "at most", `value="x"`},
		"token: long name":      {"/gate/me/tokens", url.Values{"name": {strings.Repeat("n", 101)}, "days": {"3"}}, 400, "100 characters", `action="/gate/me/tokens"`},
		"token: revoke other":   {"/gate/me/tokens/00000000-0000-0000-0000-000000000000/revoke", url.Values{}, 404, "no such token", `action="/gate/me/tokens"`},
		"session: revoke bogus": {"/gate/me/sessions/not-a-session/revoke", url.Values{}, 404, "no such session", "Sessions and devices"},
		"password: mismatch":    {"/gate/me/password", url.Values{"current_password": {pagesAdminPassword}, "new_password": {"a new long passphrase"}, "repeat_password": {"another"}}, 400, "differ", `action="/gate/me/password"`},
		"password: wrong":       {"/gate/me/password", url.Values{"current_password": {"not it at all"}, "new_password": {"a new long passphrase"}, "repeat_password": {"a new long passphrase"}}, 401, "not your password", `action="/gate/me/password"`},
		"password: weak":        {"/gate/me/password", url.Values{"current_password": {pagesAdminPassword}, "new_password": {"short"}, "repeat_password": {"short"}}, 400, "password", `action="/gate/me/password"`},
		"key: bad delay":        {"/gate/admin/keys/rotate", url.Values{"alg": {"ES256"}, "delay": {"soon"}}, 400, "duration", `value="soon"`},
		"key: bad alg":          {"/gate/admin/keys/rotate", url.Values{"alg": {"HS256"}}, 400, "unsupported algorithm", `action="/gate/admin/keys/rotate"`},
		"key: revoke unknown":   {"/gate/admin/keys/no-such-kid/revoke", url.Values{}, 404, "", `action="/gate/admin/keys/rotate"`},
		"test: no user":         {"/gate/admin/permissions/test", url.Values{"method": {"GET"}, "path": {"/api/2.0/mlflow/experiments/get"}}, 400, "Name the user", `action="/gate/admin/permissions/test"`},
		"test: unknown user":    {"/gate/admin/permissions/test", url.Values{"user": {"nobody"}, "method": {"GET"}, "path": {"/x"}}, 404, "nobody", `value="nobody"`},
		"test: bad method":      {"/gate/admin/permissions/test", url.Values{"user": {"alice"}, "method": {"BREW"}, "path": {"/x"}}, 400, "method", `action="/gate/admin/permissions/test"`},
		"test: no slash":        {"/gate/admin/permissions/test", url.Values{"user": {"alice"}, "method": {"GET"}, "path": {"api"}}, 400, "starts with /", `value="api"`},
		"grants: bogus scope":   {"/gate/admin/permissions/grants", url.Values{"role": {"Reviewers"}, "grant": {"experiments#fly"}}, 400, "scope that does not exist", "Save grants"},
		"grants: bogus res":     {"/gate/admin/permissions/grants", url.Values{"role": {"Reviewers"}, "grant": {"nothing#read"}}, 400, "resource that does not exist", "Save grants"},
		"grants: unoffered":     {"/gate/admin/permissions/grants", url.Values{"role": {"Reviewers"}, "grant": {"prompts#write"}}, 400, "not changed", "Save grants"},
		"grants: no such role":  {"/gate/admin/permissions/grants", url.Values{"role": {"Nope"}, "grant": {"experiments#read"}}, 404, "not changed", "Save grants"},
		"import: not yaml":      {"/gate/admin/permissions/import", url.Values{"yaml": {"{{{"}, "action": {"preview"}}, 400, "not imported", "{{{"},
		"import: bad table":     {"/gate/admin/permissions/import", url.Values{"yaml": {"version: 1\nresources: []\npermissions: [{role: Default, resource: x, scopes: [read]}]"}, "action": {"import"}}, 400, "no resource", "Import a table"},
	}
	for name, c := range cases {
		st, body, _ := admin.postForm(c.path, c.form)
		msg := pageError(body)
		if st != c.status || msg == "" || !strings.Contains(strings.ToLower(msg), strings.ToLower(c.message)) || !strings.Contains(body, c.again) {
			t.Errorf("%s: %d %q (want %d with %q and the form again: %v)", name, st, msg, c.status, c.message, strings.Contains(body, c.again))
		}
		if strings.Contains(body, "goroutine") || strings.Contains(body, "SQLSTATE") || strings.Contains(body, "pgx") {
			t.Errorf("%s: internals in the page: %.300s", name, body)
		}
	}
	audit := map[string]string{
		"audit: bad time":   "/gate/admin/audit?from=yesterday",
		"audit: bad status": "/gate/admin/audit?status=OK",
		"audit: reversed":   "/gate/admin/audit?from=2026-12-02T10:00&to=2026-12-01T10:00",
		"audit: decision":   "/gate/admin/audit?decision=maybe",
		"audit: cursor":     "/gate/admin/audit?before=-3",
		"users: long query": "/gate/admin/users?q=" + strings.Repeat("q", 200),
		"tokens: both":      "/gate/admin/tokens?user=alice&client=nightly-eval",
	}
	for name, path := range audit {
		st, body := admin.get(path)
		if st != http.StatusBadRequest || pageError(body) == "" || !strings.Contains(body, `<form`) {
			t.Errorf("%s: %d %q", name, st, pageError(body))
		}
	}
	if n := changes() - before; n != 0 {
		t.Errorf("bad input changed something: %d audit records of changes", n)
	}
	// A body that is not a form at all, and one over the limit.
	for name, body := range map[string]string{"not a form": "%zz%%", "too big": "name=" + strings.Repeat("x", 2<<20)} {
		req, _ := http.NewRequest(http.MethodPost, h.g.URL+"/gate/me/tokens", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", h.g.URL)
		resp, err := admin.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d", name, resp.StatusCode)
		}
	}
}
