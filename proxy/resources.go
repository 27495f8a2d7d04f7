package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mlflow-gate/mlflow-gate/authz"
)

// GrantSource is the resource grants in force (authz.GrantHolder); a nil set
// means none are configured and the route table alone decides.
type GrantSource interface{ Load() *authz.GrantSet }

// resourceRefusal is why the resource grants refused a request.
type resourceRefusal struct {
	ref   authz.ResourceRef
	level authz.Level
	scope authz.Scope
}

func (r *resourceRefusal) Error() string {
	what := r.ref.ID
	if r.ref.Name != "" && r.ref.Name != r.ref.ID {
		what += " (" + r.ref.Name + ")"
	}
	return fmt.Sprintf("denied: a %s call on %s %s needs a grant that allows it; the caller's level there is %s", r.scope, r.ref.Kind, what, r.level)
}

// errUnresolved: the gate could not learn which resource an id belongs to;
// the request is refused, never let through.
var errUnresolved = errors.New("the resource this request names could not be found")

// errNotNamed: the call acts on resources it does not name (a listing the
// gate cannot filter, a dataset or job found by its own id), so only a
// caller who may act on every resource of the kind may make it.
type errNotNamed struct {
	kind  authz.GrantKind
	scope authz.Scope
}

func (e *errNotNamed) Error() string {
	return fmt.Sprintf("denied: this call does not name the %s it acts on, so it needs %s access to every %s; ask for it or use a call that names the %s",
		e.kind, e.scope, e.kind, e.kind)
}

// checkResources applies the resource grants to a request the route table
// allowed. Every id it names must belong to a resource on which the
// caller's level allows the request's scope (read, for ids of another kind
// than the route's: registering a version of a run needs write on the
// model, read on the run's experiment). When the caller's roles allow the
// scope on every resource of the kind and no grant to them gives less (the
// shipped default, owners included), nothing is looked up.
//
// GraphQL's root fields name experiments and runs, checked like REST ids;
// the registered models a run's modelVersions lists are filtered out of the
// answer (filterGraphQL), and mlflowSearchModelVersions, whose filter names
// no model, needs read on every registered model.
//
// A create route's own name is not checked (nothing can be granted on it
// yet; the owner is recorded from MLflow's answer). A search route that
// names no resource is filtered when the caller's grants differ between
// resources (filter true). Any other route that names no resource of its
// kind needs the scope on every resource of it.
func (g *Gate) checkResources(ctx context.Context, subject authz.Subject, req *authz.Request, scope authz.Scope) (f filtering, err error) {
	set := g.grants.Load()
	rt := req.Route()
	if set == nil || rt == nil {
		return filterNone, nil
	}
	home := rt.GrantKind()
	named := false
	for i, id := range req.Attrs.IDs {
		kind := id.Kind.GrantKind()
		if kind == 0 {
			continue
		}
		if rt.Kind.Creates() && i == 0 && kind == home {
			named = true // the resource being created: see modifyResponse
			continue
		}
		need := scope
		if kind == home {
			named = true
		} else {
			need = authz.ScopeRead
		}
		ownRun := g.ownRunsOnly && id.Kind == authz.IDRun && (need == authz.ScopeWrite || need == authz.ScopeDelete)
		if set.Everywhere(subject.Name, subject.Roles, kind, need) && (!ownRun || set.Everywhere(subject.Name, subject.Roles, kind, authz.ScopeManage)) {
			continue
		}
		if level, uniform := set.Uniform(subject.Name, subject.Roles, kind); uniform {
			if g.absent(ctx, id, need) {
				continue
			}
			return filterNone, &resourceRefusal{ref: authz.ResourceRef{Kind: kind, ID: id.Value}, level: level, scope: need}
		}
		ref, err := g.resolver.resolve(ctx, g, id)
		if errors.Is(err, errUnresolved) && (g.absent(ctx, id, need) || (rt.Kind == authz.KindTraceStart && id.Kind == authz.IDTrace)) {
			continue // a trace being started under a new id: its experiment decides
		}
		if err != nil {
			return filterNone, err
		}
		level, _, _ := set.LevelOf(subject.Name, subject.Roles, ref)
		if !level.Allows(need) {
			if g.absent(ctx, id, need) {
				continue
			}
			return filterNone, &resourceRefusal{ref: ref, level: level, scope: need}
		}
		if ownRun && level < authz.LevelManage {
			if owner := g.resolver.runOwner(id.Value); owner != subject.Name {
				return filterNone, &notYourRun{run: id.Value, owner: owner, scope: need}
			}
		}
	}
	if rt.Kind == authz.KindGraphQL && !set.Everywhere(subject.Name, subject.Roles, authz.GrantRegisteredModel, authz.ScopeRead) {
		if slices.Contains(req.Attrs.GraphQLFields, "query.mlflowSearchModelVersions") {
			return filterNone, &errNotNamed{kind: authz.GrantRegisteredModel, scope: authz.ScopeRead}
		}
		return filterGraphQL, nil
	}
	if named || home == 0 {
		return filterNone, nil
	}
	switch {
	case set.Everywhere(subject.Name, subject.Roles, home, scope):
		return filterNone, nil
	case rt.Kind.Searches():
		return filterSearch, nil
	}
	return filterNone, &errNotNamed{kind: home, scope: scope}
}

// filtering is what the proxy must take out of an allowed request's answer.
type filtering uint8

const (
	filterNone    filtering = iota
	filterSearch            // a search: the gate pages through MLflow itself (search.go)
	filterGraphQL           // GraphQL: modelVersions of unreadable registered models go
)

// absent reports whether a read names, by name, an experiment or a
// registered model that does not exist: MLflow then answers its own 404,
// which the stock client's set_experiment and prompt registration expect
// before they create one. (Names are unique, so whether one is taken is no
// secret: creating it would tell as much.) Only reads, so that nothing is
// written past the grants; a lookup failure counts as present (refused).
func (g *Gate) absent(ctx context.Context, id authz.ID, need authz.Scope) bool {
	if need != authz.ScopeRead {
		return false
	}
	var err error
	switch id.Kind {
	case authz.IDExperimentName:
		_, err = g.lookupString(ctx, "/api/2.0/mlflow/experiments/get-by-name", url.Values{"experiment_name": {id.Value}}, "experiment", "experiment_id")
	case authz.IDRegisteredModel:
		_, err = g.lookupString(ctx, "/api/2.0/mlflow/registered-models/get", url.Values{"name": {id.Value}}, "registered_model", "name")
	default:
		return false
	}
	return errors.Is(err, errUnresolved)
}

// resolver maps ids to the resource whose grants decide them, asking MLflow
// and remembering: what an id belongs to never changes (a run stays in its
// experiment), and a name is kept for a minute (experiments can be renamed).
type resolver struct {
	mu      sync.Mutex
	entries map[resolveKey]resolved
	now     func() time.Time
}

type resolveKey struct {
	kind  authz.IDKind
	value string
}

type resolved struct {
	ref   authz.ResourceRef
	good  time.Time // the name is trusted until then
	owner string    // a run's mlflow.user, which only manage may change
	root  string    // a run's artifact URI, which never changes
}

// runOwner is the mlflow.user of a run resolve has seen ("" when unknown).
func (rs *resolver) runOwner(run string) string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.entries[resolveKey{authz.IDRun, run}].owner
}

// notYourRun: with own-runs-only on, a write or delete on a run someone else
// created, by a caller below manage on its experiment.
type notYourRun struct {
	run, owner string
	scope      authz.Scope
}

func (e *notYourRun) Error() string {
	return fmt.Sprintf("denied: run %s belongs to %q; in this experiment you may %s only your own runs (the gate's own-runs-only setting)", e.run, e.owner, e.scope)
}

const (
	resolverCap     = 100_000
	resolverNameFor = time.Minute
)

func newResolver() *resolver {
	return &resolver{entries: map[resolveKey]resolved{}, now: time.Now}
}

func (rs *resolver) resolve(ctx context.Context, g *Gate, id authz.ID) (authz.ResourceRef, error) {
	switch id.Kind {
	case authz.IDRegisteredModel:
		return authz.ResourceRef{Kind: authz.GrantRegisteredModel, ID: id.Value, Name: id.Value}, nil
	case authz.IDGatewayEndpoint:
		return authz.ResourceRef{Kind: authz.GrantGatewayEndpoint, ID: id.Value, Name: id.Value}, nil
	case authz.IDArtifactPath:
		// The gate's artifact layout: <experiment id>/<run id>/artifacts/...
		first, _, _ := strings.Cut(strings.TrimPrefix(id.Value, "/"), "/")
		if first == "" || strings.Trim(first, "0123456789") != "" {
			return authz.ResourceRef{}, fmt.Errorf("%w: artifact path %q is not under an experiment", errUnresolved, id.Value)
		}
		return rs.experiment(ctx, g, first)
	case authz.IDExperiment:
		return rs.experiment(ctx, g, id.Value)
	}
	k := resolveKey{id.Kind, id.Value}
	rs.mu.Lock()
	e, ok := rs.entries[k]
	rs.mu.Unlock()
	if ok {
		// The experiment an id belongs to is forever; its name may be stale.
		return rs.experiment(ctx, g, e.ref.ID)
	}
	var expID string
	var err error
	switch id.Kind {
	case authz.IDRun:
		var owner, root string
		if expID, owner, root, err = g.lookupRun(ctx, id.Value); err == nil {
			rs.store(k, resolved{ref: authz.ResourceRef{Kind: authz.GrantExperiment, ID: expID}, owner: owner, root: root})
			return rs.experiment(ctx, g, expID)
		}
	case authz.IDLoggedModel:
		expID, err = g.lookupString(ctx, "/api/2.0/mlflow/logged-models/"+url.PathEscape(id.Value), nil, "model", "info", "experiment_id")
	case authz.IDTrace:
		expID, err = g.lookupString(ctx, "/api/3.0/mlflow/traces/"+url.PathEscape(id.Value), nil, "trace", "trace_info", "trace_location", "mlflow_experiment", "experiment_id")
	case authz.IDExperimentName:
		expID, err = g.lookupString(ctx, "/api/2.0/mlflow/experiments/get-by-name", url.Values{"experiment_name": {id.Value}}, "experiment", "experiment_id")
	default:
		return authz.ResourceRef{}, fmt.Errorf("%w: no resource for %s ids", errUnresolved, id.Kind)
	}
	if err != nil {
		return authz.ResourceRef{}, err
	}
	rs.store(k, resolved{ref: authz.ResourceRef{Kind: authz.GrantExperiment, ID: expID}})
	return rs.experiment(ctx, g, expID)
}

// experiment is the experiment's reference with its current name.
func (rs *resolver) experiment(ctx context.Context, g *Gate, id string) (authz.ResourceRef, error) {
	k := resolveKey{authz.IDExperiment, id}
	now := rs.now()
	rs.mu.Lock()
	e, ok := rs.entries[k]
	rs.mu.Unlock()
	if ok && now.Before(e.good) {
		return e.ref, nil
	}
	name, err := g.lookupString(ctx, "/api/2.0/mlflow/experiments/get", url.Values{"experiment_id": {id}}, "experiment", "name")
	if err != nil {
		return authz.ResourceRef{}, err
	}
	ref := authz.ResourceRef{Kind: authz.GrantExperiment, ID: id, Name: name}
	rs.store(k, resolved{ref: ref, good: now.Add(resolverNameFor)})
	return ref, nil
}

func (rs *resolver) store(k resolveKey, r resolved) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.entries) >= resolverCap {
		clear(rs.entries)
	}
	rs.entries[k] = r
}

// rootOf is the experiment and artifact URI of a run or a logged model,
// from the resolver's memory or MLflow (neither ever changes).
func (rs *resolver) rootOf(ctx context.Context, g *Gate, kind authz.IDKind, id string) (expID, root string, err error) {
	k := resolveKey{kind, id}
	rs.mu.Lock()
	e, ok := rs.entries[k]
	rs.mu.Unlock()
	if ok && e.root != "" {
		return e.ref.ID, e.root, nil
	}
	var owner string
	switch kind {
	case authz.IDRun:
		expID, owner, root, err = g.lookupRun(ctx, id)
	case authz.IDLoggedModel:
		expID, root, err = g.lookupLoggedModel(ctx, id)
	default:
		return "", "", fmt.Errorf("%w: no artifact root for %s ids", errUnresolved, kind)
	}
	if err != nil {
		return "", "", err
	}
	rs.store(k, resolved{ref: authz.ResourceRef{Kind: authz.GrantExperiment, ID: expID}, owner: owner, root: root})
	return expID, root, nil
}

// lookupLoggedModel is a logged model's experiment and artifact location.
func (g *Gate) lookupLoggedModel(ctx context.Context, id string) (expID, root string, err error) {
	v, err := g.lookupStrings(ctx, "/api/2.0/mlflow/logged-models/"+url.PathEscape(id), nil,
		[]string{"model", "info", "experiment_id"}, []string{"model", "info", "artifact_uri"})
	if err != nil {
		return "", "", err
	}
	return v[0], v[1], nil
}

// lookupRun is a run's experiment, its mlflow.user tag and its artifact URI.
func (g *Gate) lookupRun(ctx context.Context, run string) (expID, owner, root string, err error) {
	resp, err := g.askMLflow(ctx, "/api/2.0/mlflow/runs/get", url.Values{"run_id": {run}})
	if err != nil {
		return "", "", "", fmt.Errorf("%w: %w", errLookup, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	switch {
	case err != nil:
		return "", "", "", fmt.Errorf("%w: %w", errLookup, err)
	case resp.StatusCode == http.StatusNotFound,
		resp.StatusCode == http.StatusBadRequest && strings.Contains(string(b), "RESOURCE_DOES_NOT_EXIST"):
		return "", "", "", fmt.Errorf("%w: run %s", errUnresolved, run)
	case resp.StatusCode != http.StatusOK:
		return "", "", "", fmt.Errorf("%w: runs/get answered %s", errLookup, resp.Status)
	}
	var v struct {
		Run struct {
			Info struct {
				ExperimentID string `json:"experiment_id"`
				ArtifactURI  string `json:"artifact_uri"`
			} `json:"info"`
			Data struct {
				Tags []struct{ Key, Value string } `json:"tags"`
			} `json:"data"`
		} `json:"run"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return "", "", "", fmt.Errorf("%w: runs/get: %w", errLookup, err)
	}
	if v.Run.Info.ExperimentID == "" {
		return "", "", "", fmt.Errorf("%w: runs/get names no experiment", errUnresolved)
	}
	for _, t := range v.Run.Data.Tags {
		if t.Key == userTag {
			owner = t.Value
		}
	}
	return v.Run.Info.ExperimentID, owner, v.Run.Info.ArtifactURI, nil
}

// lookupString asks MLflow and reads one string at path in its JSON answer.
// A 404 (or MLflow's RESOURCE_DOES_NOT_EXIST) is errUnresolved; anything
// else that is not a 200 is a lookup failure.
func (g *Gate) lookupString(ctx context.Context, path string, query url.Values, field ...string) (string, error) {
	v, err := g.lookupStrings(ctx, path, query, field)
	if err != nil {
		return "", err
	}
	return v[0], nil
}

// lookupStrings is lookupString for several fields of one answer.
func (g *Gate) lookupStrings(ctx context.Context, path string, query url.Values, fields ...[]string) ([]string, error) {
	resp, err := g.askMLflow(ctx, path, query)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errLookup, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errLookup, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound,
		resp.StatusCode == http.StatusBadRequest && strings.Contains(string(b), "RESOURCE_DOES_NOT_EXIST"):
		return nil, fmt.Errorf("%w: %s", errUnresolved, path)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: %s answered %s", errLookup, path, resp.Status)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errLookup, path, err)
	}
	out := make([]string, len(fields))
	for i, field := range fields {
		v := doc
		for _, f := range field {
			m, _ := v.(map[string]any)
			v = m[f]
		}
		s, ok := v.(string)
		if !ok || s == "" {
			return nil, fmt.Errorf("%w: %s has no %s", errUnresolved, path, strings.Join(field, "."))
		}
		out[i] = s
	}
	return out, nil
}

// resourceDenied is the answer to a request the resource grants refused: 403
// when the caller may not, or the resource could not be found (never let
// through unresolved); 502 when MLflow could not be asked.
func resourceDenied(err error) *refusal {
	var rr *resourceRefusal
	switch {
	case errors.As(err, &rr):
		return &refusal{Status: http.StatusForbidden, Code: codeDenied, Message: "mlflow-gate: " + rr.Error(),
			Outcome: OutcomeDeny, Reason: "resource_level"}
	case errors.As(err, new(*notYourRun)):
		return &refusal{Status: http.StatusForbidden, Code: codeDenied, Message: "mlflow-gate: " + err.Error(),
			Outcome: OutcomeDeny, Reason: "resource_run_owner"}
	case errors.As(err, new(*errNotNamed)):
		return &refusal{Status: http.StatusForbidden, Code: codeDenied, Message: "mlflow-gate: " + err.Error(),
			Outcome: OutcomeDeny, Reason: "resource_unnamed"}
	case errors.Is(err, errUnresolved):
		return &refusal{Status: http.StatusForbidden, Code: codeDenied,
			Message: "mlflow-gate: denied: the resource this request names does not exist or cannot be checked",
			Outcome: OutcomeDeny, Reason: "resource_unresolved"}
	}
	return &refusal{Status: http.StatusBadGateway, Code: codeBadGateway,
		Message: "mlflow-gate could not check with MLflow which resource this request names", Outcome: OutcomeUnavailable, Reason: "resource_lookup"}
}
