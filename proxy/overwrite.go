package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/mlflow-gate/mlflow-gate/authz"
)

// Writes over existing data. MLflow's artifact writes (the artifact proxy's PUT,
// multipart completion, the UI's upload-artifact) replace an existing file without a
// word, and an empty PUT erases it; StartTraceV3 with the id of an existing trace
// overwrites that trace and its assessments. Such a write is a delete of what was
// there. The route table marks them (authz.RouteKind's Overwrites);
// before forwarding one that the caller may not also delete, the gate asks MLflow
// whether the target exists (a listing of the file's folder, or the trace, through
// MLflow's own API) and decides the write as a delete when it does. A caller who may
// delete anyway (Admin) costs no lookup.
//
// The check and the write are two requests, so two writers racing to create the same
// new file or trace can still both pass; what this closes is replacing or erasing data
// that already exists, which is what the seed's "Default may not delete" is about.

const (
	overwriteWhy      = "overwrites an existing artifact"
	overwriteTraceWhy = "overwrites an existing trace and its assessments"
)

var errArtifactName = errors.New("the multipart upload's path must be a file name")

// uploadTarget returns the listing request that shows the uploaded file and the name
// to look for in it. body is the buffered JSON body of a multipart request.
func (g *Gate) uploadTarget(req *authz.Request, rawQuery string, body []byte) (listPath string, query url.Values, want string, err error) {
	rt := req.Route()
	switch rt.Kind {
	case authz.KindUIUpload:
		// ?run_uuid=&path=: the file is <run's artifact root>/<path>.
		q, err := authz.ParseQuery(rawQuery, rt.Repeat)
		if err != nil {
			return "", nil, "", err
		}
		run := req.Attrs.Values(authz.IDRun)
		p, _ := q.Get("path")
		if len(run) != 1 || !cleanRelPath(p) {
			return "", nil, "", fmt.Errorf("%w: upload-artifact needs one run and a relative path without dot segments", authz.ErrBadRequest)
		}
		dir := path.Dir(p)
		if dir == "." {
			dir = ""
		}
		return "/api/2.0/mlflow/artifacts/list", url.Values{"run_id": {run[0]}, "path": {dir}}, p, nil
	case authz.KindMultipartUpload:
		// The path parameter is the folder; the body's path the file's name, of
		// which MLflow keeps the last segment (handlers._get_multipart_upload_file_name).
		dir := paramOf(req, "artifact_path")
		name, err := multipartFileName(body)
		if err != nil {
			return "", nil, "", err
		}
		return "/api/2.0/mlflow-artifacts/artifacts", url.Values{"path": {dir}}, name, nil
	default:
		p := paramOf(req, "artifact_path")
		dir, name := path.Split(p)
		return "/api/2.0/mlflow-artifacts/artifacts", url.Values{"path": {strings.TrimSuffix(dir, "/")}}, name, nil
	}
}

func paramOf(req *authz.Request, key string) string {
	for _, id := range req.Attrs.IDs {
		if id.In == authz.InPath && id.Key == key {
			return id.Value
		}
	}
	return ""
}

// cleanRelPath: a relative path MLflow and the gate read alike.
func cleanRelPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\%\x00") {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

func multipartFileName(body []byte) (string, error) {
	v, err := authz.ParseStrictJSON(body, len(body)+1)
	if err != nil {
		return "", err
	}
	if v == nil || v.Kind != authz.JSONObject {
		return "", fmt.Errorf("%w: %w", authz.ErrBadRequest, errArtifactName)
	}
	f, ok := v.Field("path")
	if !ok || f.Kind != authz.JSONString {
		return "", fmt.Errorf("%w: %w", authz.ErrBadRequest, errArtifactName)
	}
	name := f.Text
	if i := strings.LastIndexAny(name, "/\\"); i >= 0 {
		name = name[i+1:]
	}
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "%\x00") {
		return "", fmt.Errorf("%w: %w", authz.ErrBadRequest, errArtifactName)
	}
	return name, nil
}

// artifactExists lists the upload's folder through MLflow and reports whether the
// file is in it.
func (g *Gate) artifactExists(ctx context.Context, listPath string, query url.Values, want string) (bool, error) {
	resp, err := g.askMLflow(ctx, listPath, query)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return false, nil // no such folder (or run): nothing to overwrite
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return false, fmt.Errorf("listing artifacts: MLflow answered %s", resp.Status)
	}
	var listing struct {
		Files []struct {
			Path  string `json:"path"`
			IsDir bool   `json:"is_dir"`
		} `json:"files"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&listing); err != nil {
		return false, fmt.Errorf("listing artifacts: %w", err)
	}
	for _, f := range listing.Files {
		// The artifact proxy lists names within the folder, the tracking API paths
		// from the run's root: want is written the same way for each.
		if !f.IsDir && f.Path == want {
			return true, nil
		}
	}
	return false, nil
}

// askMLflow sends the gate's own GET to MLflow's API (path unescaped, under the
// upstream's base path), with the gate's transport and no redirects.
func (g *Gate) askMLflow(ctx context.Context, path string, query url.Values) (*http.Response, error) {
	u := *g.upstream
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawPath, u.RawQuery = "", query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Host = g.upstream.Host
	return g.lookup.Do(req)
}

// traceExists asks MLflow for the trace (GetTraceInfoV3).
func (g *Gate) traceExists(ctx context.Context, id string) (bool, error) {
	if id == "" {
		return false, nil // MLflow refuses a trace without an id itself
	}
	if strings.ContainsAny(id, "/?#%") {
		return false, fmt.Errorf("%w: a trace id is one path segment", authz.ErrBadRequest)
	}
	resp, err := g.askMLflow(ctx, "/api/3.0/mlflow/traces/"+id, nil)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("looking up the trace: MLflow answered %s", resp.Status)
}

// checkOverwrite raises an allowed write to a delete when it would replace existing
// data and the caller may not delete. It returns the new decision.
func (g *Gate) checkOverwrite(ctx context.Context, subject authz.Subject, req *authz.Request, d authz.Decision, rawQuery string, body []byte) (authz.Decision, error) {
	why := overwriteWhy
	if req.Route().Kind == authz.KindTraceStart {
		why = overwriteTraceWhy
	}
	if g.mayDelete(ctx, subject, req, why) {
		return d, nil // may delete anyway: no lookup, nothing raised
	}
	var exists bool
	if req.Route().Kind == authz.KindTraceStart {
		ids := req.Attrs.Values(authz.IDTrace)
		if len(ids) > 1 {
			return d, fmt.Errorf("%w: more than one trace id", authz.ErrBadRequest)
		}
		id := ""
		if len(ids) == 1 {
			id = ids[0]
		}
		var err error
		if exists, err = g.traceExists(ctx, id); errors.Is(err, authz.ErrBadRequest) {
			return d, err
		} else if err != nil {
			return d, fmt.Errorf("%w: %w", errLookup, err)
		}
	} else {
		listPath, query, want, err := g.uploadTarget(req, rawQuery, body)
		if err != nil {
			return d, err
		}
		if exists, err = g.artifactExists(ctx, listPath, query, want); err != nil {
			return d, fmt.Errorf("%w: %w", errLookup, err)
		}
	}
	if !exists {
		return d, nil
	}
	req.Escalate(authz.ScopeDelete, why)
	return g.policy.Decide(subject, req), nil
}

// mayDelete reports whether the caller could make the request as a delete:
// the route table and, with resource grants, the grants on what it names.
// A write by such a caller may replace what is there.
func (g *Gate) mayDelete(ctx context.Context, subject authz.Subject, req *authz.Request, why string) bool {
	n := len(req.Escalations)
	defer func() { req.Escalations = req.Escalations[:n] }()
	req.Escalate(authz.ScopeDelete, why)
	if !g.policy.Decide(subject, req).Allow {
		return false
	}
	if g.grants == nil {
		return true
	}
	_, err := g.checkResources(ctx, subject, req, authz.ScopeDelete)
	return err == nil
}

// errLookup: the gate could not ask MLflow what it needed to decide (502).
var errLookup = errors.New("could not check with MLflow what the write would replace")
