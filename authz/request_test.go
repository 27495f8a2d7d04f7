package authz

import (
	"errors"
	"net/http"
	"reflect"
	"slices"
	"testing"
)

func TestReadRequest(t *testing.T) {
	cases := []struct {
		name string
		in   Input
		kind IDKind
		want []string
	}{
		{"query id", Input{Method: "GET", RawPath: "/api/2.0/mlflow/experiments/get", RawQuery: "experiment_id=7"}, IDExperiment, []string{"7"}},
		{"legacy run_uuid", Input{Method: "GET", RawPath: "/api/2.0/mlflow/runs/get", RawQuery: "run_uuid=r1"}, IDRun, []string{"r1"}},
		{"run_id and run_uuid agree", Input{Method: "GET", RawPath: "/get-artifact", RawQuery: "run_id=r1&run_uuid=r1&path=a"}, IDRun, []string{"r1"}},
		{"repeated list key", Input{Method: "GET", RawPath: "/ajax-api/2.0/mlflow/metrics/get-history-bulk", RawQuery: "run_id=a&run_id=b&metric_key=m"}, IDRun, []string{"a", "b"}},
		{"path id", Input{Method: "DELETE", RawPath: "/api/2.0/mlflow/logged-models/m-9"}, IDLoggedModel, []string{"m-9"}},
		{"escaped path id", Input{Method: "GET", RawPath: "/api/3.0/mlflow/traces/tr%2D1"}, IDTrace, []string{"tr-1"}},
		{"artifact path", Input{Method: "PUT", RawPath: "/api/2.0/mlflow-artifacts/artifacts/3/r/artifacts/model.pkl"}, IDArtifactPath, []string{"3/r/artifacts/model.pkl"}},
		{"body id", Input{Method: "POST", RawPath: "/api/2.0/mlflow/runs/delete", Body: []byte(`{"run_id": "r5"}`)}, IDRun, []string{"r5"}},
		{"body json name", Input{Method: "POST", RawPath: "/api/2.0/mlflow/experiments/delete", Body: []byte(`{"experimentId": "4"}`)}, IDExperiment, []string{"4"}},
		{"body number id", Input{Method: "POST", RawPath: "/api/2.0/mlflow/runs/create", Body: []byte(`{"experiment_id": 4}`)}, IDExperiment, []string{"4"}},
		{"body list", Input{Method: "POST", RawPath: "/api/2.0/mlflow/runs/search", Body: []byte(`{"experiment_ids": ["1", "2"]}`)}, IDExperiment, []string{"1", "2"}},
		{"nested body path", Input{Method: "POST", RawPath: "/api/3.0/mlflow/traces", Body: []byte(`{"trace": {"trace_info": {"traceLocation": {"mlflow_experiment": {"experiment_id": "8"}}}}}`)}, IDExperiment, []string{"8"}},
		{"array of objects", Input{Method: "POST", RawPath: "/api/3.0/mlflow/traces/search", Body: []byte(`{"locations": [{"mlflow_experiment": {"experiment_id": "1"}}, {"mlflowExperiment": {"experimentId": "2"}}]}`)}, IDExperiment, []string{"1", "2"}},
		{"double-encoded body", Input{Method: "POST", RawPath: "/api/2.0/mlflow/runs/delete", Body: []byte(`"{\"run_id\": \"r6\"}"`)}, IDRun, []string{"r6"}},
		{"null is absent", Input{Method: "POST", RawPath: "/api/2.0/mlflow/runs/delete", Body: []byte(`{"run_id": null}`)}, IDRun, nil},
		{"empty body", Input{Method: "POST", RawPath: "/api/2.0/mlflow/runs/delete"}, IDRun, nil},
		{"otlp header", Input{Method: "POST", RawPath: "/v1/traces", Header: http.Header{"X-Mlflow-Experiment-Id": {"12"}}}, IDExperiment, []string{"12"}},
		{"gateway body model", Input{Method: "POST", RawPath: "/gateway/openai/v1/chat/completions", Body: []byte(`{"model": "ep", "messages": []}`)}, IDGatewayEndpoint, []string{"ep"}},
		{"raw route ignores camel case", Input{Method: "POST", RawPath: "/ajax-api/3.0/mlflow/scorer/invoke", Body: []byte(`{"experimentId": "1"}`)}, IDExperiment, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := ReadRequest(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if req.Route() == nil {
				t.Fatal("no route")
			}
			if got := req.Attrs.Values(c.kind); !slices.Equal(got, c.want) {
				t.Fatalf("%s ids %q, want %q (all: %+v)", c.kind, got, c.want, req.Attrs.IDs)
			}
		})
	}
}

func TestReadRequestRefuses(t *testing.T) {
	cases := []struct {
		name string
		in   Input
		want error
	}{
		{"bad path", Input{Method: "GET", RawPath: "/api/2.0/mlflow/../runs/get"}, ErrDotSegment},
		{"repeated scalar", Input{Method: "GET", RawPath: "/api/2.0/mlflow/experiments/get", RawQuery: "experiment_id=1&experiment_id=2"}, ErrRepeatedKey},
		{"semicolon", Input{Method: "GET", RawPath: "/api/2.0/mlflow/experiments/get", RawQuery: "experiment_id=1;experiment_id=2"}, ErrSemicolon},
		{"run_id and run_uuid differ", Input{Method: "GET", RawPath: "/api/2.0/mlflow/runs/get", RawQuery: "run_id=a&run_uuid=b"}, ErrAmbiguousField},
		{"body run_id and run_uuid differ", Input{Method: "POST", RawPath: "/api/2.0/mlflow/runs/update", Body: []byte(`{"run_id": "a", "run_uuid": "b"}`)}, ErrAmbiguousField},
		{"proto name and json name", Input{Method: "POST", RawPath: "/api/2.0/mlflow/experiments/delete", Body: []byte(`{"experiment_id": "1", "experimentId": "2"}`)}, ErrAmbiguousField},
		{"duplicate key", Input{Method: "POST", RawPath: "/api/2.0/mlflow/runs/delete", Body: []byte(`{"run_id": "a", "run_id": "b"}`)}, ErrDuplicateKey},
		{"case-variant key", Input{Method: "POST", RawPath: "/api/2.0/mlflow/runs/delete", Body: []byte(`{"run_id": "a", "RUN_ID": "b"}`)}, ErrDuplicateKey},
		{"invalid json", Input{Method: "POST", RawPath: "/api/2.0/mlflow/runs/delete", Body: []byte(`{"run_id": }`)}, ErrInvalidJSON},
		{"too large", Input{Method: "POST", RawPath: "/api/2.0/mlflow/runs/delete", Body: []byte(`{"run_id": "abcdefgh"}`), MaxBody: 10}, ErrBodyTooLarge},
		{"id of wrong type", Input{Method: "POST", RawPath: "/api/2.0/mlflow/runs/delete", Body: []byte(`{"run_id": {"x": 1}}`)}, ErrInvalidJSON},
		{"list of wrong type", Input{Method: "POST", RawPath: "/api/2.0/mlflow/runs/search", Body: []byte(`{"experiment_ids": "1"}`)}, ErrInvalidJSON},
		{"header twice", Input{Method: "POST", RawPath: "/v1/traces", Header: http.Header{"X-Mlflow-Experiment-Id": {"1", "2"}}}, ErrBadHeader},
		{"graphql introspection", Input{Method: "POST", RawPath: "/graphql", Body: []byte(`{"query": "{ __schema { types { name } } }"}`)}, ErrGraphQL},
		{"graphql without body", Input{Method: "GET", RawPath: "/graphql"}, ErrGraphQL},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ReadRequest(c.in); !errors.Is(err, c.want) || !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
		})
	}
}

func TestReadRequestThenDecide(t *testing.T) {
	req, err := ReadRequest(Input{Method: "POST", RawPath: "/graphql",
		Body: []byte(`{"query": "query { mlflowGetExperiment(input: {experimentId: \"1\"}) { experiment { name } } }"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(req.Attrs.GraphQLFields, []string{"query.mlflowGetExperiment"}) {
		t.Fatalf("GraphQL fields %v", req.Attrs.GraphQLFields)
	}
	if d := defaultPolicy().Decide(asDefault, req); !d.Allow || d.Reason() != "allowed by Default#read on graphql" {
		t.Fatalf("%v", d)
	}
	unknown, err := ReadRequest(Input{Method: "GET", RawPath: "/api/2.0/mlflow/nope", RawQuery: "a=1"})
	if err != nil || unknown.Route() != nil {
		t.Fatalf("unknown route: %v, %v", unknown, err)
	}
	if d := defaultPolicy().Decide(asAdmin, unknown); d.Allow || d.Code != ReasonUnknownRoute {
		t.Fatalf("%v", d)
	}
	if req.Route().BodyIDs() != true {
		t.Fatal("graphql needs its body")
	}
	if m, _ := MatchRoute("GET", "/api/2.0/mlflow/runs/get"); m.Route.BodyIDs() {
		t.Fatal("runs/get needs no body")
	}
}

// A Target located once reads the same request as ReadRequest's own matching.
func TestReadRequestReusesTarget(t *testing.T) {
	in := Input{Method: "POST", RawPath: "/api/2.0/mlflow/runs/set-tag", Body: []byte(`{"run_id":"r1","key":"k","value":"v"}`)}
	want, err := ReadRequest(in)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := Locate(in.Method, in.RawPath)
	if err != nil || tg.Route() != want.Route() || tg.Path != want.Path {
		t.Fatalf("Locate: %+v, %v", tg, err)
	}
	in.Target = &tg
	got, err := ReadRequest(in)
	if err != nil || got.Route() != want.Route() || !reflect.DeepEqual(got.Attrs, want.Attrs) {
		t.Fatalf("with a target: %+v, %v; want %+v", got, err, want)
	}
	if _, err := Locate("GET", "/api/2.0/mlflow/%2e%2e/x"); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("Locate of a dot segment: %v", err)
	}
	if tg, err := Locate("GET", "/no/such/route"); err != nil || tg.Route() != nil {
		t.Fatalf("Locate of an unknown route: %+v, %v", tg, err)
	}
}

func TestSourceTargetNamesWhatAVersionWouldServe(t *testing.T) {
	for _, c := range []struct {
		uri  string
		kind IDKind
		id   string
		ok   bool
	}{
		{"runs:/abc/model", IDRun, "abc", true},
		{"runs:///abc/model", IDRun, "abc", true},
		{"models:/m-123", IDLoggedModel, "m-123", true},
		{"models:/m-123/1", IDRegisteredModel, "m-123", true},
		{"models:/churn/3", IDRegisteredModel, "churn", true},
		{"mlflow-artifacts:/7/abc/artifacts/model", IDArtifactPath, "7/abc/artifacts/model", true},
		{"mlflow-artifacts:7/abc/artifacts/model", IDArtifactPath, "7/abc/artifacts/model", true},
		{"runs://other-host/abc/model", 0, "", false},
		{"runs:/", 0, "", false},
		{"s3://bucket/key", 0, "", false},
		{"dummy-source", 0, "", false},
	} {
		kind, id, ok := SourceTarget(c.uri)
		if kind != c.kind || id != c.id || ok != c.ok {
			t.Errorf("SourceTarget(%q) = %v %q %v, want %v %q %v", c.uri, kind, id, ok, c.kind, c.id, c.ok)
		}
	}
}
