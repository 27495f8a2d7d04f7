package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The realm the bench measures, made like the Keycloak + NGINX template's
// through the admin REST API: realm roles Default and Admin; a user with a
// password and Default; a service client (client credentials) whose service
// account has Default; a web client (authorization code); and the resource
// server mlflow with UMA resources, a role policy on Default and a scope
// permission tying them, which NGINX asks for a decision on every call.

const (
	kcRealm    = "mlflow"
	kcRedirect = "http://127.0.0.1:53682/callback" // nothing listens: the code is read from Location
)

// kcSetup is what the bench needs to know about the realm it made.
type kcSetup struct {
	issuer                      string
	serviceSecret, webSecret    string
	resourceSecret              string // of mlflow, the resource server: it introspects the users' tokens
	user, password              string
	nobody, nobodyPassword      string // has no Default role: the UMA decision must refuse it
	passwordHash                string // what Keycloak stored for the user's password, from its credential
	resources, scopes, policies []string
}

// kcAdmin calls Keycloak's admin REST API with a token of the bootstrap admin.
type kcAdmin struct {
	base, token string
	client      *http.Client
}

func kcAdminLogin(ctx context.Context, base, user, pass string) (*kcAdmin, error) {
	a := &kcAdmin{base: base, client: &http.Client{Timeout: 30 * time.Second}}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	form := url.Values{"grant_type": {"password"}, "client_id": {"admin-cli"}, "username": {user}, "password": {pass}}
	if err := a.form(ctx, base+"/realms/master/protocol/openid-connect/token", form, &tok); err != nil {
		return nil, fmt.Errorf("admin token (master realm, admin-cli, bootstrap admin): %w", err)
	}
	if tok.AccessToken == "" {
		return nil, errors.New("admin token: no access_token in the answer")
	}
	a.token = tok.AccessToken
	return a, nil
}

func (a *kcAdmin) form(ctx context.Context, u string, form url.Values, out any) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: status %d: %s", u, resp.StatusCode, snippet(b))
	}
	return json.Unmarshal(b, out)
}

// call sends one admin request and checks its status; out, when set, gets
// the JSON answer. It returns the Location header (where a 201 says the
// created object is).
func (a *kcAdmin) call(ctx context.Context, method, p string, body any, want int, out any) (string, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return "", err
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(ctx, method, a.base+"/admin/realms"+p, rd)
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != want {
		return "", fmt.Errorf("admin API %s %s: status %d, want %d: %s", method, p, resp.StatusCode, want, snippet(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return "", fmt.Errorf("admin API %s %s: %v: %s", method, p, err, snippet(b))
		}
	}
	return resp.Header.Get("Location"), nil
}

// create POSTs a representation and returns the new object's id, the last
// segment of the Location the 201 names.
func (a *kcAdmin) create(ctx context.Context, p string, body any) (string, error) {
	loc, err := a.call(ctx, http.MethodPost, p, body, http.StatusCreated, nil)
	if err != nil {
		return "", err
	}
	if loc == "" {
		return "", fmt.Errorf("admin API POST %s: 201 without Location", p)
	}
	return loc[strings.LastIndexByte(loc, '/')+1:], nil
}

type kcRole struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// setupKeycloakRealm makes the realm; every call's answer is checked.
func setupKeycloakRealm(ctx context.Context, k *keycloak, adminUser, adminPass string) (*kcSetup, error) {
	a, err := kcAdminLogin(ctx, k.url, adminUser, adminPass)
	if err != nil {
		return nil, err
	}
	s := &kcSetup{issuer: k.url + "/realms/" + kcRealm, serviceSecret: randToken(32), webSecret: randToken(32),
		user: "bench", password: randToken(24), nobody: "nobody", nobodyPassword: randToken(24)}
	r := "/" + kcRealm
	// Access tokens live an hour, like the gate's in this bench, so that
	// none expires during the measurement.
	if _, err := a.call(ctx, http.MethodPost, "", map[string]any{"realm": kcRealm, "enabled": true, "accessTokenLifespan": 3600},
		http.StatusCreated, nil); err != nil {
		return nil, err
	}
	roles := map[string]kcRole{}
	for _, name := range []string{"Default", "Admin"} {
		if _, err := a.create(ctx, r+"/roles", map[string]any{"name": name}); err != nil {
			return nil, err
		}
		var role kcRole
		if _, err := a.call(ctx, http.MethodGet, r+"/roles/"+name, nil, http.StatusOK, &role); err != nil {
			return nil, err
		}
		roles[name] = role
	}
	addUser := func(name, pw string, realmRoles ...string) (string, error) {
		// First and last name and a verified email: the default user profile
		// asks for them, and a user without would be sent to a form at login.
		id, err := a.create(ctx, r+"/users", map[string]any{"username": name, "enabled": true, "email": name + "@example.com",
			"emailVerified": true, "firstName": "Bench", "lastName": name,
			"credentials": []any{map[string]any{"type": "password", "value": pw, "temporary": false}}})
		if err != nil {
			return "", err
		}
		var reps []kcRole
		for _, rn := range realmRoles {
			reps = append(reps, roles[rn])
		}
		if len(reps) > 0 {
			if _, err := a.call(ctx, http.MethodPost, r+"/users/"+id+"/role-mappings/realm", reps, http.StatusNoContent, nil); err != nil {
				return "", err
			}
		}
		return id, nil
	}
	userID, err := addUser(s.user, s.password, "Default")
	if err != nil {
		return nil, err
	}
	if _, err := addUser(s.nobody, s.nobodyPassword); err != nil {
		return nil, err
	}
	// Which hash Keycloak chose for the password: its credential says.
	var creds []struct {
		Type           string `json:"type"`
		CredentialData string `json:"credentialData"`
	}
	if _, err := a.call(ctx, http.MethodGet, r+"/users/"+userID+"/credentials", nil, http.StatusOK, &creds); err != nil {
		return nil, err
	}
	for _, c := range creds {
		if c.Type == "password" {
			s.passwordHash = describeKCHash(c.CredentialData)
		}
	}

	// The service client: client credentials, its service account has Default.
	svcID, err := a.create(ctx, r+"/clients", map[string]any{"clientId": "mlflow-service", "protocol": "openid-connect",
		"publicClient": false, "clientAuthenticatorType": "client-secret", "secret": s.serviceSecret,
		"serviceAccountsEnabled": true, "standardFlowEnabled": false, "directAccessGrantsEnabled": false})
	if err != nil {
		return nil, err
	}
	var sa struct {
		ID string `json:"id"`
	}
	if _, err := a.call(ctx, http.MethodGet, r+"/clients/"+svcID+"/service-account-user", nil, http.StatusOK, &sa); err != nil {
		return nil, err
	}
	if _, err := a.call(ctx, http.MethodPost, r+"/users/"+sa.ID+"/role-mappings/realm", []kcRole{roles["Default"]}, http.StatusNoContent, nil); err != nil {
		return nil, err
	}
	// The web client: the browser login (authorization code). Its access
	// tokens name mlflow as an audience, so that mlflow may introspect them
	// (Keycloak 26 answers "active": false to a client not in aud).
	webID, err := a.create(ctx, r+"/clients", map[string]any{"clientId": "mlflow-web", "protocol": "openid-connect",
		"publicClient": false, "clientAuthenticatorType": "client-secret", "secret": s.webSecret,
		"standardFlowEnabled": true, "directAccessGrantsEnabled": false, "redirectUris": []string{kcRedirect}})
	if err != nil {
		return nil, err
	}
	if _, err := a.create(ctx, r+"/clients/"+webID+"/protocol-mappers/models", map[string]any{"name": "audience mlflow",
		"protocol": "openid-connect", "protocolMapper": "oidc-audience-mapper", "config": map[string]string{
			"included.client.audience": "mlflow", "access.token.claim": "true", "id.token.claim": "false", "introspection.token.claim": "true"}}); err != nil {
		return nil, err
	}
	// The resource server with authorization services (they need a service account).
	s.resourceSecret = randToken(32)
	rsID, err := a.create(ctx, r+"/clients", map[string]any{"clientId": "mlflow", "protocol": "openid-connect",
		"publicClient": false, "clientAuthenticatorType": "client-secret", "secret": s.resourceSecret,
		"serviceAccountsEnabled": true, "authorizationServicesEnabled": true,
		"standardFlowEnabled": false, "directAccessGrantsEnabled": false})
	if err != nil {
		return nil, err
	}
	rs := r + "/clients/" + rsID + "/authz/resource-server"
	s.scopes = []string{"read", "update"}
	for _, sc := range s.scopes {
		if _, err := a.call(ctx, http.MethodPost, rs+"/scope", map[string]any{"name": sc}, http.StatusCreated, nil); err != nil {
			return nil, err
		}
	}
	s.resources = []string{"runs", "experiments", "artifacts"}
	for _, res := range s.resources {
		if _, err := a.call(ctx, http.MethodPost, rs+"/resource", map[string]any{"name": res, "displayName": "MLflow " + res,
			"scopes": []any{map[string]any{"name": "read"}, map[string]any{"name": "update"}}}, http.StatusCreated, nil); err != nil {
			return nil, err
		}
	}
	if _, err := a.call(ctx, http.MethodPost, rs+"/policy/role", map[string]any{"name": "Default role", "logic": "POSITIVE",
		"decisionStrategy": "UNANIMOUS", "roles": []any{map[string]any{"id": roles["Default"].ID, "required": false}}},
		http.StatusCreated, nil); err != nil {
		return nil, err
	}
	s.policies = []string{"Default role"}
	if _, err := a.call(ctx, http.MethodPost, rs+"/permission/scope", map[string]any{"name": "Default reads and updates",
		"decisionStrategy": "UNANIMOUS", "resources": s.resources, "scopes": s.scopes, "policies": s.policies},
		http.StatusCreated, nil); err != nil {
		return nil, err
	}
	// Read the permission back: names Keycloak did not resolve are dropped silently.
	var perms []struct {
		ID string `json:"id"`
	}
	if _, err := a.call(ctx, http.MethodGet, rs+"/permission/scope?name="+url.QueryEscape("Default reads and updates"), nil, http.StatusOK, &perms); err != nil {
		return nil, err
	}
	if len(perms) != 1 {
		return nil, fmt.Errorf("admin API: %d scope permissions named %q, want 1", len(perms), "Default reads and updates")
	}
	for _, part := range []struct {
		what string
		n    int
	}{{"resources", len(s.resources)}, {"scopes", len(s.scopes)}, {"associatedPolicies", len(s.policies)}} {
		var got []struct {
			Name string `json:"name"`
		}
		if _, err := a.call(ctx, http.MethodGet, rs+"/policy/"+perms[0].ID+"/"+part.what, nil, http.StatusOK, &got); err != nil {
			return nil, err
		}
		if len(got) != part.n {
			return nil, fmt.Errorf("admin API: the scope permission has %d %s, want %d", len(got), part.what, part.n)
		}
	}
	return s, nil
}

// describeKCHash turns a password credential's data into words, e.g.
// "argon2 (id, v1.3), memory 7168 KiB, 5 iterations, parallelism 1".
func describeKCHash(data string) string {
	var d struct {
		Algorithm  string              `json:"algorithm"`
		Iterations int                 `json:"hashIterations"`
		Params     map[string][]string `json:"additionalParameters"`
	}
	if err := json.Unmarshal([]byte(data), &d); err != nil || d.Algorithm == "" {
		return "unknown (" + data + ")"
	}
	p := func(k string) string {
		if v := d.Params[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	s := d.Algorithm
	if t, v := p("type"), p("version"); t != "" || v != "" {
		s += fmt.Sprintf(" (%s, v%s)", t, v)
	}
	if m := p("memory"); m != "" {
		s += ", memory " + m + " KiB"
	}
	s += fmt.Sprintf(", %d iterations", d.Iterations)
	if par := p("parallelism"); par != "" {
		s += ", parallelism " + par
	}
	return s
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
