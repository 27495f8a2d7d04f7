package authz_test

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/mlflow-gate/mlflow-gate/authz"
)

// The proxy's use: compile the table once, read each request strictly (a refusal is
// a 400), decide (a denial is a 403) and log the decision's one-line explanation.
func Example() {
	policy, err := authz.Compile(authz.DefaultTable())
	if err != nil {
		panic(err)
	}
	holder := authz.NewHolder(policy)
	alice := authz.Subject{Name: "alice", Roles: []string{authz.RoleDefault}}

	for _, in := range []authz.Input{
		{Method: "POST", RawPath: "/api/2.0/mlflow/runs/create", Header: http.Header{}, Body: []byte(`{"experiment_id": "1"}`)},
		{Method: "POST", RawPath: "/ajax-api/2.0/mlflow/experiments/delete", Body: []byte(`{"experiment_id": "1"}`)},
		{Method: "GET", RawPath: "/api/2.0/mlflow-artifacts/artifacts/1/%2e%2e/2"},
	} {
		req, err := authz.ReadRequest(in)
		if errors.Is(err, authz.ErrBadRequest) {
			fmt.Println("400:", err)
			continue
		}
		d := holder.Decide(alice, req)
		fmt.Println(d, req.Attrs.Values(authz.IDExperiment))
	}
	// Output:
	// ALLOW POST /api/2.0/mlflow/runs/create [POST /api/2.0/mlflow/runs/create: run write]: allowed by Default#write on runs [1]
	// DENY POST /ajax-api/2.0/mlflow/experiments/delete [POST /ajax-api/2.0/mlflow/experiments/delete: experiment delete]: denied: no role of [Default] holds delete on experiments [1]
	// 400: authz: path has a dot segment: "/api/2.0/mlflow-artifacts/artifacts/1/%2e%2e/2"
}
