package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mlflow-gate/mlflow-gate/authz"
)

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

type createBody struct {
	UserID string `json:"user_id"`
	Tags   []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"tags"`
	ExperimentID string `json:"experiment_id"`
	RunName      string `json:"run_name"`
}

func TestRunCreationIsStamped(t *testing.T) {
	up := newEcho(t)
	f := newFixture(t, up.URL, nil)
	for name, body := range map[string]string{
		"plain":          `{"experiment_id":"7","user_id":"mallory","run_name":"r","tags":[{"key":"mlflow.user","value":"mallory"},{"key":"team","value":"x"}]}`,
		"escaped key":    `{"experiment_id":"7","run_name":"r","tags":[{"key":"team","value":"x"},{"key":"mlflow\u002euser","value":"mallory"}]}`,
		"case and space": `{"experiment_id":"7","run_name":"r","tags":[{"key":"MLflow.User  ","value":"mallory"},{"key":"team","value":"x"}]}`,
		"camel user id":  `{"experiment_id":"7","userId":"mallory","run_name":"r","tags":[{"key":"team","value":"x"}]}`,
		"double encoded": `"{\"experiment_id\":\"7\",\"user_id\":\"mallory\",\"run_name\":\"r\",\"tags\":[{\"key\":\"team\",\"value\":\"x\"},{\"key\":\"mlflow.user\",\"value\":\"m\"}]}"`,
	} {
		t.Run(name, func(t *testing.T) {
			resp := f.do(t, "POST", "/api/2.0/mlflow/runs/create", "alice-token", []byte(body))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			got := up.got(t)
			var b createBody
			if err := json.Unmarshal(got.Body, &b); err != nil {
				t.Fatalf("forwarded body %q: %v", got.Body, err)
			}
			if got.ContentLength != int64(len(got.Body)) {
				t.Errorf("Content-Length %d for %d bytes", got.ContentLength, len(got.Body))
			}
			if b.UserID != "alice" || b.ExperimentID != "7" || b.RunName != "r" || len(b.Tags) != 2 ||
				b.Tags[0].Key != "mlflow.user" || b.Tags[0].Value != "alice" || b.Tags[1].Key != "team" {
				t.Fatalf("forwarded %s", got.Body)
			}
			if strings.Contains(string(got.Body), "mallory") || strings.Contains(string(got.Body), "userId") {
				t.Fatalf("the client's user survived: %s", got.Body)
			}
			// user_id and the tag come first: ParseDict stops at a bad field.
			if !strings.HasPrefix(string(got.Body), `{"user_id":"alice","tags":[{"key":"mlflow.user","value":"alice"}`) {
				t.Fatalf("forwarded %s", got.Body)
			}
		})
	}
	t.Run("empty body", func(t *testing.T) {
		f.do(t, "POST", "/ajax-api/2.0/mlflow/runs/create", "root-token", []byte{})
		if got := string(up.got(t).Body); got != `{"user_id":"root","tags":[{"key":"mlflow.user","value":"root"}]}` {
			t.Fatalf("forwarded %s", got)
		}
	})
	t.Run("tags not a list", func(t *testing.T) {
		mlflowError(t, f.do(t, "POST", "/api/2.0/mlflow/runs/create", "alice-token", []byte(`{"experiment_id":"7","tags":{"key":"mlflow.user"}}`)),
			http.StatusBadRequest, codeBadRequest)
	})
	t.Run("promptlab", func(t *testing.T) {
		f.do(t, "POST", "/ajax-api/2.0/mlflow/runs/create-promptlab-run", "alice-token",
			[]byte(`{"experiment_id":"7","user_id":"mallory","tags":[{"key":"mlflow.user","value":"m"}],"prompt_template":"x"}`))
		if got := string(up.got(t).Body); got != `{"user_id":"alice","experiment_id":"7","prompt_template":"x"}` {
			t.Fatalf("forwarded %s", got)
		}
	})
}

func TestUserTagChangesNeedAdmin(t *testing.T) {
	up := newEcho(t)
	f := newFixture(t, up.URL, nil)
	refused := map[string]string{
		"set-tag":             `{"run_id":"r1","key":"mlflow.user","value":"mallory"}`,
		"set-tag escaped":     `{"run_uuid":"r1","key":"mlflow\u002Euser","value":"mallory"}`,
		"set-tag case":        `{"run_id":"r1","key":"MLFLOW.USER","value":"mallory"}`,
		"set-tag double enc":  `"{\"run_id\":\"r1\",\"key\":\"mlflow.user\",\"value\":\"m\"}"`,
		"delete-tag":          `{"run_id":"r1","key":"mlflow.user"}`,
		"log-batch":           `{"run_id":"r1","tags":[{"key":"ok","value":"1"},{"key":"mlflow.user","value":"mallory"}]}`,
		"log-batch escaped":   `{"runId":"r1","tags":[{"key":"\u006dlflow.user","value":"mallory"}]}`,
		"log-batch trailing ": `{"run_id":"r1","tags":[{"key":"mlflow.user ","value":"mallory"}]}`,
	}
	for name, body := range refused {
		route := "/api/2.0/mlflow/runs/" + strings.Fields(name)[0]
		t.Run(name, func(t *testing.T) {
			msg := mlflowError(t, f.do(t, "POST", route, "alice-token", []byte(body)), http.StatusForbidden, codeDenied)
			// delete-tag is a delete: the default policy refuses Default first.
			if name != "delete-tag" && !strings.Contains(msg, "mlflow.user") {
				t.Fatalf("message %q", msg)
			}
		})
		t.Run(name+" under ajax-api", func(t *testing.T) {
			mlflowError(t, f.do(t, "POST", strings.Replace(route, "/api/", "/ajax-api/", 1), "alice-token", []byte(body)), http.StatusForbidden, codeDenied)
		})
	}
	if up.count() != 0 {
		t.Fatalf("%d refused changes reached MLflow", up.count())
	}
	for name, body := range map[string]string{
		"other tag":         `{"run_id":"r1","key":"mlflow.username","value":"x"}`,
		"log-batch no user": `{"run_id":"r1","tags":[{"key":"mlflow.runName","value":"x"}],"metrics":[]}`,
		"log-batch no tags": `{"run_id":"r1","params":[{"key":"mlflow.user","value":"params are not tags"}]}`,
	} {
		t.Run("allowed "+name, func(t *testing.T) {
			route := "/api/2.0/mlflow/runs/set-tag"
			if strings.HasPrefix(name, "log-batch") {
				route = "/api/2.0/mlflow/runs/log-batch"
			}
			if resp := f.do(t, "POST", route, "alice-token", []byte(body)); resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
		})
	}
	// Admin may, and the body goes through untouched.
	body := refused["set-tag escaped"]
	if resp := f.do(t, "POST", "/api/2.0/mlflow/runs/set-tag", "root-token", []byte(body)); resp.StatusCode != http.StatusOK {
		t.Fatalf("admin set-tag: status %d", resp.StatusCode)
	}
	if got := string(up.got(t).Body); got != body {
		t.Fatalf("admin body changed: %s", got)
	}
}

// With a table that lets Default delete run tags, the rule still keeps mlflow.user.
func TestUserTagRuleHoldsUnderAGenerousPolicy(t *testing.T) {
	table := authz.DefaultTable()
	for i, p := range table.Permissions {
		if p.Role == authz.RoleDefault && p.Resource == "runs" {
			table.Permissions[i].Scopes = append(slices.Clone(p.Scopes), authz.ScopeDelete)
		}
	}
	policy, err := authz.Compile(table)
	if err != nil {
		t.Fatal(err)
	}
	up := newEcho(t)
	f := newFixture(t, up.URL, func(c *Config) { c.Policy = authz.NewHolder(policy) })
	if resp := f.do(t, "POST", "/api/2.0/mlflow/runs/delete-tag", "alice-token", []byte(`{"run_id":"r1","key":"team"}`)); resp.StatusCode != 200 {
		t.Fatalf("delete-tag of another tag: status %d (is the table change wrong?)", resp.StatusCode)
	}
	msg := mlflowError(t, f.do(t, "POST", "/api/2.0/mlflow/runs/delete-tag", "alice-token", []byte(`{"run_id":"r1","key":"mlflow\u002euser"}`)),
		http.StatusForbidden, codeDenied)
	if !strings.Contains(msg, "mlflow.user") {
		t.Fatalf("message %q", msg)
	}
}

func TestAppendJSONRoundTrip(t *testing.T) {
	for _, doc := range []string{
		`{"a":[1,-0,1e400,2.50E-3,true,false,null,"x"],"b":{"c":"\u0000\u001f\"\\\/\u2028é😀"},"d":NaN,"e":-Infinity}`,
		`[]`, `{}`, `"s"`, `[[[{"k":[]}]]]`, `{"k":"line\nbreak\ttab\r"}`,
	} {
		v, err := authz.ParseStrictJSON([]byte(doc), 0)
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		out := appendJSON(nil, v)
		w, err := authz.ParseStrictJSON(out, 0)
		if err != nil {
			t.Fatalf("%s re-encoded as %s: %v", doc, out, err)
		}
		if !reflect.DeepEqual(v, w) {
			t.Fatalf("%s re-encoded as %s reads differently", doc, out)
		}
	}
}

// create-promptlab-run cannot carry the tag in its body: after MLflow created
// the run the gate sets mlflow.user with runs/set-tag as the gate user, and a
// run it could not tag is a 502, not a success.
func TestPromptlabRunIsTaggedAfterCreation(t *testing.T) {
	for _, failTag := range []bool{false, true} {
		var mu sync.Mutex
		var setTag []byte
		var tagUser string
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			switch r.URL.Path {
			case "/api/2.0/mlflow/runs/set-tag":
				mu.Lock()
				setTag, tagUser = b, r.Header.Get("X-Mlflow-Gate-User")
				mu.Unlock()
				if failTag {
					w.WriteHeader(500)
					return
				}
				_, _ = io.WriteString(w, `{}`)
			default:
				_, _ = io.WriteString(w, `{"run":{"info":{"run_id":"r-new","user_id":"alice"},"data":{}}}`)
			}
		}))
		t.Cleanup(up.Close)
		f := newFixture(t, up.URL, nil)
		resp := f.do(t, "POST", "/ajax-api/2.0/mlflow/runs/create-promptlab-run", "alice-token",
			[]byte(`{"experiment_id":"1","tags":[{"key":"mlflow.user","value":"mallory"}]}`))
		mu.Lock()
		got, user := string(setTag), tagUser
		mu.Unlock()
		if got != `{"key":"mlflow.user","run_id":"r-new","value":"alice"}` || user != "alice" {
			t.Fatalf("failTag=%v: set-tag got %q as %q", failTag, got, user)
		}
		if failTag {
			mlflowError(t, resp, http.StatusBadGateway, codeBadGateway)
			continue
		}
		if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || !strings.Contains(string(b), `"r-new"`) {
			t.Fatalf("caller got %d %s", resp.StatusCode, b)
		}
	}
}
