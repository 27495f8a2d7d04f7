package authz

import (
	"fmt"
	"strings"
)

// IDKind says what an id in a request identifies.
type IDKind uint8

// Id kinds recorded by the route table.
const (
	IDExperiment IDKind = iota + 1
	IDExperimentName
	IDRun
	IDRegisteredModel
	IDModelVersion
	IDLoggedModel
	IDTrace
	IDArtifactPath
	IDDataset
	IDScorer
	IDJob
	IDWebhook
	IDWorkspace
	IDGatewayEndpoint
	IDMCPServer
	IDSkill
	IDIssue
)

var idKindNames = [...]string{
	IDExperiment: "experiment", IDExperimentName: "experiment_name", IDRun: "run",
	IDRegisteredModel: "registered_model", IDModelVersion: "model_version",
	IDLoggedModel: "logged_model", IDTrace: "trace", IDArtifactPath: "artifact_path",
	IDDataset: "dataset", IDScorer: "scorer", IDJob: "job", IDWebhook: "webhook",
	IDWorkspace: "workspace", IDGatewayEndpoint: "gateway_endpoint",
	IDMCPServer: "mcp_server", IDSkill: "skill", IDIssue: "issue",
}

func (k IDKind) String() string {
	if int(k) < len(idKindNames) && idKindNames[k] != "" {
		return idKindNames[k]
	}
	return fmt.Sprintf("idkind(%d)", uint8(k))
}

// Source is where in a request an id travels.
type Source uint8

// Id sources.
const (
	InPath Source = iota + 1
	InQuery
	InBody
	InHeader
)

func (s Source) String() string {
	switch s {
	case InPath:
		return "path"
	case InQuery:
		return "query"
	case InBody:
		return "body"
	case InHeader:
		return "header"
	}
	return fmt.Sprintf("source(%d)", uint8(s))
}

// IDSpec is one place a route carries an id. Key is a path parameter name, a query
// key, a header name, or a JSON body path: dot-separated field names where a "[]"
// suffix walks every element of an array ("locations[].mlflow_experiment.experiment_id",
// "experiment_ids[]"). Alt is a legacy second spelling MLflow also reads (run_uuid for
// run_id); a request giving both with different values is refused.
type IDSpec struct {
	Kind IDKind
	In   Source
	Key  string
	Alt  string
	// URI: the field is an artifact URI (a model version's source) whose
	// target is the id: runs:/<run>/... a run, models:/m-<id> a logged
	// model, models:/<name>/... a registered model, mlflow-artifacts:/<path>
	// an artifact path (so its experiment). Kind is then unused.
	URI bool
}

func (s IDSpec) String() string {
	if s.URI {
		return "source_uri@" + s.In.String() + ":" + s.Key
	}
	k := s.Key
	if s.Alt != "" {
		k += "|" + s.Alt
	}
	return s.Kind.String() + "@" + s.In.String() + ":" + k
}

// Route is one method + path pattern MLflow serves, as the gate classifies it.
type Route struct {
	ID      int          // index in Routes()
	Method  string       // GET, POST, PUT, PATCH or DELETE; HEAD is decided as GET
	Pattern string       // full path pattern, see compilePattern for the syntax
	Type    ResourceType // what it acts on
	Scope   Scope        // what it does to it
	IDs     []IDSpec     // where its ids travel
	// Repeat lists the query keys MLflow reads as lists (repeated proto fields, or
	// request.args.getlist in plain handlers); any other repeated key is refused.
	Repeat []string
	// Proto is true when MLflow reads the request with handlers._get_request_message:
	// JSON bodies then also accept each field's lowerCamelCase JSON name
	// (protobuf ParseDict) and a body that is a JSON string is decoded a second time
	// (_get_normalized_request_json, for old clients).
	Proto bool
	// ParamFirst: at the route's first parameter segment, parameters are tried before
	// literal siblings, because Starlette's declaration order says so (see
	// routes_gateway.go). Werkzeug and every other route try literals first.
	ParamFirst bool
	// Kind says what the gate itself must know about the route (RouteKind).
	Kind RouteKind
	// Artifact: the route serves, lists or stores artifact bytes, which the proxy
	// keeps from running as active content on the gate's origin (CSP sandbox) and
	// whose error bodies it passes through as they are. True for TypeArtifact and
	// for the few routes of other types that serve files (spec.artifact).
	Artifact bool
	// Store is the artifact-store operation the gate performs itself, straight
	// against the bucket, when it is configured with one (StoreNone: MLflow
	// serves the route's bytes, with the same authorization).
	Store StoreOp
	// StoreParam is the query parameter with the path below the root, for
	// StoreRootFile and StoreRootList.
	StoreParam string
	// Effects are body fields that make the call do more than Scope says; the
	// decision then asks for the effect's scope (effect.go).
	Effects []Effect
	// Why says why the route's scope is what it is: what MLflow's handler does.
	Why    string
	params []string // path parameter names in pattern order
}

// RouteKind is a fact about a route that the proxy acts on, kept in the table rather
// than guessed from the route's path.
type RouteKind uint8

// Route kinds. Every route the proxy treats specially has one; the proxy never
// looks at a route's pattern.
const (
	KindPlain RouteKind = iota
	// KindArtifactUpload writes artifact bytes at a key the caller names in the
	// path (the artifact proxy's PUT). MLflow overwrites an existing file silently,
	// so an upload over one is a delete: the proxy looks before deciding
	// (Request.Escalate). KindMultipartUpload and KindUIUpload are uploads too.
	KindArtifactUpload
	// KindMultipartUpload starts or completes a multipart upload: the folder is in
	// the path, the file's name in the JSON body, which the proxy buffers.
	KindMultipartUpload
	// KindUIUpload is the UI's upload-artifact: run and path in the query.
	KindUIUpload
	// KindTraceStart starts a trace under an id the client chooses; MLflow
	// overwrites an existing trace with that id (and its assessments), so the proxy
	// looks before deciding, as for uploads.
	KindTraceStart
	// KindRunCreate creates a run: the proxy writes user_id and the mlflow.user tag.
	KindRunCreate
	// KindPromptlabRunCreate creates a run whose tags MLflow cannot store from the
	// body: the proxy sets user_id, drops mlflow.user and tags the run afterwards.
	KindPromptlabRunCreate
	// KindRunTagSet, KindRunTagDelete and KindRunLogBatch write run tags; changing
	// mlflow.user through them is an effect that asks for manage (userTagEffect).
	KindRunTagSet
	KindRunTagDelete
	KindRunLogBatch
	// KindUITelemetry is the UI's telemetry route, which the proxy may answer itself.
	KindUITelemetry
	// KindGraphQL reads a GraphQL document whose fields the decision reads.
	KindGraphQL
	// KindExperimentCreate and KindRegisteredModelCreate create the resource
	// their body names: no grant can name it yet, and the proxy records the
	// creator as its owner from MLflow's answer.
	KindExperimentCreate
	KindRegisteredModelCreate
	// KindExperimentSearch, KindRegisteredModelSearch and KindModelVersionSearch
	// list resources across experiments or registered models: when the
	// caller's grants differ between resources, the proxy filters the pages.
	KindExperimentSearch
	KindRegisteredModelSearch
	KindModelVersionSearch
)

var routeKindNames = [...]string{
	KindPlain: "plain", KindArtifactUpload: "artifact-upload", KindMultipartUpload: "multipart-upload",
	KindUIUpload: "ui-upload", KindTraceStart: "trace-start", KindRunCreate: "run-create",
	KindPromptlabRunCreate: "promptlab-run-create", KindRunTagSet: "run-tag-set",
	KindRunTagDelete: "run-tag-delete", KindRunLogBatch: "run-log-batch",
	KindUITelemetry: "ui-telemetry", KindGraphQL: "graphql",
	KindExperimentCreate: "experiment-create", KindRegisteredModelCreate: "registered-model-create",
	KindExperimentSearch: "experiment-search", KindRegisteredModelSearch: "registered-model-search",
	KindModelVersionSearch: "model-version-search",
}

func (k RouteKind) String() string {
	if int(k) < len(routeKindNames) && routeKindNames[k] != "" {
		return routeKindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// StoreOp is an operation of MLflow's artifact proxy API that the gate serves
// from the artifact bucket itself, so that artifact bytes never pass through
// MLflow's process. The route's artifact path (a path parameter, or the
// listing's path query) names the file.
type StoreOp uint8

// Store operations.
const (
	StoreNone StoreOp = iota
	StoreList
	StoreDownload
	StoreUpload
	StoreDelete
	StoreMultipartCreate
	StoreMultipartComplete
	StoreMultipartAbort
	StorePresignedDownload
	// StoreRootFile is a file named by a run or a logged model and a path
	// (in the query parameter StoreParam) relative to its artifact root,
	// which the proxy looks up: the UI's get-artifact and logged-model files.
	StoreRootFile
	// StoreVersionFile is model-versions/get-artifact: a file below the
	// model version's download URI, which the proxy asks MLflow for.
	StoreVersionFile
	// StoreRootList lists a folder below a run's or logged model's artifact
	// root (the tracking API's artifacts/list, logged-model directories).
	StoreRootList
	// StoreRootUpload is the UI's upload-artifact: a small file (at most
	// 10 MB) written below the run's artifact root.
	StoreRootUpload
)

var storeOpNames = [...]string{
	StoreNone: "none", StoreList: "list", StoreDownload: "download", StoreUpload: "upload",
	StoreDelete: "delete", StoreMultipartCreate: "mpu-create", StoreMultipartComplete: "mpu-complete",
	StoreMultipartAbort: "mpu-abort", StorePresignedDownload: "presigned-download", StoreRootFile: "root-file",
	StoreVersionFile: "version-file", StoreRootList: "root-list", StoreRootUpload: "root-upload",
}

func (o StoreOp) String() string {
	if int(o) < len(storeOpNames) && storeOpNames[o] != "" {
		return storeOpNames[o]
	}
	return fmt.Sprintf("storeop(%d)", uint8(o))
}

// Multipart reports whether the operation reads a multipart upload's JSON
// body (path, upload_id, parts), which the proxy buffers.
func (o StoreOp) Multipart() bool {
	return o == StoreMultipartCreate || o == StoreMultipartComplete || o == StoreMultipartAbort
}

// Upload reports whether the route writes artifact bytes at a name the caller picks.
func (k RouteKind) Upload() bool {
	return k == KindArtifactUpload || k == KindMultipartUpload || k == KindUIUpload
}

// Overwrites reports whether the route can replace existing data without saying
// so: an upload or a trace start, which the proxy checks before forwarding.
func (k RouteKind) Overwrites() bool { return k.Upload() || k == KindTraceStart }

// Creates reports whether the route creates the experiment or registered
// model it names.
func (k RouteKind) Creates() bool { return k == KindExperimentCreate || k == KindRegisteredModelCreate }

// Searches reports whether the route lists resources whose grants the proxy
// applies to each result.
func (k RouteKind) Searches() bool {
	return k == KindExperimentSearch || k == KindRegisteredModelSearch || k == KindModelVersionSearch
}

// CreatesRun reports whether the route creates a run, whose creator the proxy stamps.
func (k RouteKind) CreatesRun() bool { return k == KindRunCreate || k == KindPromptlabRunCreate }

// Key is the route's "METHOD pattern" form, as in the golden file and in Resource URIs.
func (r *Route) Key() string { return r.Method + " " + r.Pattern }

// Params returns the route's path parameter names, in pattern order.
func (r *Route) Params() []string { return r.params }

// BodyIDs reports whether the decision reads the JSON body: the route carries ids
// there, has effects, or is GraphQL. The proxy buffers such bodies before deciding.
func (r *Route) BodyIDs() bool {
	if r.Kind == KindGraphQL || len(r.Effects) > 0 {
		return true
	}
	for _, s := range r.IDs {
		if s.In == InBody {
			return true
		}
	}
	return false
}

func (r *Route) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-6s %s -> %s %s", r.Method, r.Pattern, r.Type, r.Scope)
	for i, s := range r.IDs {
		if i == 0 {
			b.WriteString(" ids=")
		} else {
			b.WriteByte(',')
		}
		b.WriteString(s.String())
	}
	if len(r.Repeat) > 0 {
		b.WriteString(" repeat=" + strings.Join(r.Repeat, ","))
	}
	if r.Proto {
		b.WriteString(" proto")
	}
	if r.ParamFirst {
		b.WriteString(" param-first")
	}
	if r.Kind != KindPlain {
		b.WriteString(" kind=" + r.Kind.String())
	}
	if r.Artifact {
		b.WriteString(" artifact")
		if r.Store != StoreNone {
			b.WriteString(" bytes=gate:" + r.Store.String())
			if r.StoreParam != "" {
				b.WriteString("(" + r.StoreParam + ")")
			}
		} else {
			b.WriteString(" bytes=mlflow")
		}
	}
	for _, e := range r.Effects {
		b.WriteString(" | " + e.String() + ": " + e.Why)
	}
	if r.Why != "" {
		b.WriteString(" | why: " + r.Why)
	}
	return b.String()
}

// prefixes is the set of mount points one MLflow route is served under. MLflow's
// handlers._get_paths registers every proto endpoint under /api/<v>.0 and
// /ajax-api/<v>.0 alike; a few plain routes exist only under /ajax-api, and the
// FastAPI routers and UI routes have absolute paths.
type prefixes struct {
	list  []string
	proto bool // default Route.Proto for entries under it
}

var (
	rest2 = prefixes{[]string{"/api/2.0", "/ajax-api/2.0"}, true}  // proto endpoints, since.major 2
	rest3 = prefixes{[]string{"/api/3.0", "/ajax-api/3.0"}, true}  // proto endpoints, since.major 3
	both3 = prefixes{[]string{"/api/3.0", "/ajax-api/3.0"}, false} // plain handlers on both
	ajax2 = prefixes{[]string{"/ajax-api/2.0"}, false}             // plain Flask routes, UI only
	ajax3 = prefixes{[]string{"/ajax-api/3.0"}, false}
	root  = prefixes{[]string{""}, false} // absolute paths
)

// spec is one table entry: one MLflow route, expanded over its prefixes at compile.
type spec struct {
	pre        prefixes
	method     string
	path       string
	typ        ResourceType
	scope      Scope
	ids        []IDSpec
	repeat     []string
	proto      *bool
	paramFirst bool
	effects    []Effect
	whyText    string
	routeKind  RouteKind
	files      bool
	store      StoreOp
	storeParam string
}

func r(pre prefixes, method, path string, typ ResourceType, scope Scope, ids ...IDSpec) spec {
	return spec{pre: pre, method: method, path: path, typ: typ, scope: scope, ids: ids}
}

// rep declares query keys MLflow reads as lists.
func (s spec) rep(keys ...string) spec { s.repeat = keys; return s }

// first makes the route's parameters win over literal siblings (Starlette order).
func (s spec) first() spec { s.paramFirst = true; return s }

// pb marks an entry outside the proto groups that is still read by _get_request_message.
func (s spec) pb() spec { t := true; s.proto = &t; return s }

func q(k IDKind, key string) IDSpec { return IDSpec{Kind: k, In: InQuery, Key: key} }
func b(k IDKind, key string) IDSpec { return IDSpec{Kind: k, In: InBody, Key: key} }

// src is a body field holding an artifact URI whose target the request reads.
func src(key string) IDSpec          { return IDSpec{Kind: IDArtifactPath, In: InBody, Key: key, URI: true} }
func p(k IDKind, name string) IDSpec { return IDSpec{Kind: k, In: InPath, Key: name} }
func h(k IDKind, name string) IDSpec { return IDSpec{Kind: k, In: InHeader, Key: name} }

// or adds MLflow's legacy second spelling of the same field.
func (s IDSpec) or(alt string) IDSpec { s.Alt = alt; return s }

const (
	get   = "GET"
	post  = "POST"
	put   = "PUT"
	patch = "PATCH"
	del   = "DELETE"
)

// Scope shorthands for the table (remove is ScopeDelete: delete is Go's builtin).
const (
	read   = ScopeRead
	write  = ScopeWrite
	remove = ScopeDelete
	manage = ScopeManage
	use    = ScopeUse
)
