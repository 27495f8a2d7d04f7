package authz

// Experiments, runs, metrics, run artifacts and logged models: MlflowService in
// mlflow/protos/service.proto plus the plain Flask routes of mlflow/server/__init__.py.
// Ids come from protobuf request messages: GET reads the query string, every other
// method the JSON body (handlers._get_request_message).
var trackingRoutes = []spec{
	// Experiments.
	r(rest2, get, "/mlflow/experiments/get", TypeExperiment, read, q(IDExperiment, "experiment_id")),
	r(rest2, get, "/mlflow/experiments/get-by-name", TypeExperiment, read, q(IDExperimentName, "experiment_name")),
	r(rest2, get, "/mlflow/experiments/search", TypeExperiment, read).rep("order_by").kind(KindExperimentSearch),
	r(rest2, post, "/mlflow/experiments/search", TypeExperiment, read).kind(KindExperimentSearch),
	r(rest2, post, "/mlflow/experiments/create", TypeExperiment, write, b(IDExperimentName, "name")).why("creates an experiment").kind(KindExperimentCreate).eff(whenSet("artifact_location", manage, "makes MLflow store the experiment's artifacts where the caller says, outside the gate's layout")),
	r(rest2, post, "/mlflow/experiments/update", TypeExperiment, write, b(IDExperiment, "experiment_id")).why("renames the experiment; ids and data stay"),
	r(rest2, post, "/mlflow/experiments/set-experiment-tag", TypeExperiment, write, b(IDExperiment, "experiment_id")).
		why("sets a tag value; tags are metadata, deleting one is delete").
		eff(whenEquals("key", "mlflow.trace.archiveNow", manage, "moves the experiment's trace spans out of the database (trace archival)")).
		eff(whenEquals("key", "mlflow.trace.archivalRetention", manage, "sets when the experiment's trace spans are moved out of the database (trace archival)")),
	r(rest2, post, "/mlflow/experiments/delete-experiment-tag", TypeExperiment, remove, b(IDExperiment, "experiment_id")),
	r(rest2, post, "/mlflow/experiments/delete", TypeExperiment, remove, b(IDExperiment, "experiment_id")),
	r(rest2, post, "/mlflow/experiments/restore", TypeExperiment, manage, b(IDExperiment, "experiment_id")),
	// SearchDatasets' proto path lacks its leading slash, so _get_paths registers
	// "/api/2.0mlflow/..." (no handler: _not_implemented answers 404). The UI uses the
	// plain ajax route below instead.
	r(rest2, post, "mlflow/experiments/search-datasets", TypeExperiment, read, b(IDExperiment, "experiment_ids[]")),
	r(ajax2, post, "/mlflow/experiments/search-datasets", TypeExperiment, read, b(IDExperiment, "experiment_ids[]")).pb(),

	// Runs.
	r(rest2, post, "/mlflow/runs/create", TypeRun, write, b(IDExperiment, "experiment_id")).why("creates a run (the gate stamps mlflow.user)").kind(KindRunCreate),
	r(ajax2, post, "/mlflow/runs/create-promptlab-run", TypeRun, write, b(IDExperiment, "experiment_id")).why("creates a run (the gate stamps mlflow.user)").kind(KindPromptlabRunCreate),
	r(rest2, get, "/mlflow/runs/get", TypeRun, read, q(IDRun, "run_id").or("run_uuid")),
	r(rest2, post, "/mlflow/runs/search", TypeRun, read, b(IDExperiment, "experiment_ids[]")),
	r(rest2, post, "/mlflow/runs/update", TypeRun, write, b(IDRun, "run_id").or("run_uuid")).why("sets status, end time or name; a run is never deleted by status"),
	r(rest2, post, "/mlflow/runs/log-metric", TypeRun, write, b(IDRun, "run_id").or("run_uuid"), b(IDLoggedModel, "model_id")).why("appends a metric value; history is kept"),
	r(rest2, post, "/mlflow/runs/log-parameter", TypeRun, write, b(IDRun, "run_id").or("run_uuid")).why("adds a param; MLflow refuses changing a logged value"),
	r(rest2, post, "/mlflow/runs/log-batch", TypeRun, write, b(IDRun, "run_id")).why("appends metrics, adds params and sets tags, as log-metric, log-parameter and set-tag").
		kind(KindRunLogBatch).eff(userTagEffect("tags[].key")),
	r(rest2, post, "/mlflow/runs/log-model", TypeRun, write, b(IDRun, "run_id")).why("appends model metadata to the run's history tag"),
	r(rest2, post, "/mlflow/runs/log-inputs", TypeRun, write, b(IDRun, "run_id")).why("links datasets and models to the run; dataset sources are stored metadata the server never opens"),
	r(rest2, post, "/mlflow/runs/outputs", TypeRun, write, b(IDRun, "run_id")).why("links logged models to the run as outputs"),
	r(rest2, post, "/mlflow/runs/set-tag", TypeRun, write, b(IDRun, "run_id").or("run_uuid")).why("sets a tag value").
		kind(KindRunTagSet).eff(userTagEffect("key")),
	r(rest2, post, "/mlflow/runs/delete-tag", TypeRun, remove, b(IDRun, "run_id")).kind(KindRunTagDelete).eff(userTagEffect("key")),
	r(rest2, post, "/mlflow/runs/delete", TypeRun, remove, b(IDRun, "run_id")),
	r(rest2, post, "/mlflow/runs/restore", TypeRun, manage, b(IDRun, "run_id")),

	// Metrics. get-history-bulk is a plain handler reading request.args.getlist("run_id");
	// get-history-bulk-interval is a proto endpoint that the Flask app also registers by
	// hand under /ajax-api (same path, same handler).
	r(rest2, get, "/mlflow/metrics/get-history", TypeRun, read, q(IDRun, "run_id").or("run_uuid")),
	r(rest2, get, "/mlflow/metrics/get-history-bulk-interval", TypeRun, read, q(IDRun, "run_ids")).rep("run_ids"),
	r(ajax2, get, "/mlflow/metrics/get-history-bulk", TypeRun, read, q(IDRun, "run_id")).rep("run_id"),

	// Run artifacts through the tracking API and the UI's plain routes. get-artifact and
	// upload-artifact read `request.args.get("run_id") or request.args.get("run_uuid")`.
	r(rest2, get, "/mlflow/artifacts/list", TypeArtifact, read, q(IDRun, "run_id").or("run_uuid")).gateRoot(StoreRootList, "path"),
	// Only runs whose artifact root is direct cloud storage have presigned uploads
	// (mlflow-artifacts roots answer 400), and only Admin may put an experiment
	// there; the URL, signed with MLflow's credentials, can replace any file of the run.
	r(rest2, post, "/mlflow/artifacts/presigned-upload-url", TypeArtifact, manage, b(IDRun, "run_id"), b(IDLoggedModel, "model_id")).
		why("hands out an upload URL signed with MLflow's own storage credentials, which can replace any file of the run"),
	r(rest2, post, "/mlflow/artifacts/presigned-download-url", TypeArtifact, read, b(IDRun, "run_id")),
	r(ajax2, post, "/mlflow/upload-artifact", TypeArtifact, write, q(IDRun, "run_id").or("run_uuid")).why("writes a new artifact file (<= 10 MB) under the run's root; over an existing file it is a delete").kind(KindUIUpload).gateRoot(StoreRootUpload, "path"),
	r(root, get, "/get-artifact", TypeArtifact, read, q(IDRun, "run_id").or("run_uuid")).gateRoot(StoreRootFile, "path"),
	r(root, get, "/model-versions/get-artifact", TypeArtifact, read, q(IDRegisteredModel, "name"), q(IDModelVersion, "version")).gate(StoreVersionFile),

	// Logged models (MLflow 3).
	r(rest2, post, "/mlflow/logged-models", TypeLoggedModel, write, b(IDExperiment, "experiment_id"), b(IDRun, "source_run_id")).why("creates a logged model in the experiment; its location is the experiment's"),
	r(rest2, post, "/mlflow/logged-models/search", TypeLoggedModel, read, b(IDExperiment, "experiment_ids[]")),
	r(rest2, get, "/mlflow/logged-models/{model_id}", TypeLoggedModel, read, p(IDLoggedModel, "model_id")),
	r(rest2, patch, "/mlflow/logged-models/{model_id}", TypeLoggedModel, write, p(IDLoggedModel, "model_id")).why("finalizes the model's status (READY or FAILED); no data is removed"),
	r(rest2, del, "/mlflow/logged-models/{model_id}", TypeLoggedModel, remove, p(IDLoggedModel, "model_id")),
	r(rest2, patch, "/mlflow/logged-models/{model_id}/tags", TypeLoggedModel, write, p(IDLoggedModel, "model_id")).why("sets tag values"),
	r(rest2, del, "/mlflow/logged-models/{model_id}/tags/{tag_key}", TypeLoggedModel, remove, p(IDLoggedModel, "model_id")),
	r(rest2, post, "/mlflow/logged-models/{model_id}/params", TypeLoggedModel, write, p(IDLoggedModel, "model_id")).why("adds params"),
	r(rest2, get, "/mlflow/logged-models/{model_id}/artifacts/directories", TypeLoggedModel, read, p(IDLoggedModel, "model_id")).artifact().gateRoot(StoreRootList, "artifact_directory_path"),
	r(ajax2, get, "/mlflow/logged-models/{model_id}/artifacts/files", TypeLoggedModel, read, p(IDLoggedModel, "model_id")).artifact().gateRoot(StoreRootFile, "artifact_file_path"),
}

// Traces and assessments. V2 paths are legacy but served; the 3.x client uses V3 and
// OTLP (/v1/traces, a FastAPI route in mlflow/server/otel_api.py that reads the
// experiment from the x-mlflow-experiment-id header).
var traceRoutes = []spec{
	r(rest2, post, "/mlflow/traces", TypeTrace, write, b(IDExperiment, "experiment_id")).why("starts a trace"),
	r(rest2, get, "/mlflow/traces", TypeTrace, read, q(IDExperiment, "experiment_ids")).rep("experiment_ids", "order_by"),
	r(rest2, patch, "/mlflow/traces/{request_id}", TypeTrace, write, p(IDTrace, "request_id")).why("ends a trace: status and end time"),
	r(rest2, get, "/mlflow/traces/{request_id}/info", TypeTrace, read, p(IDTrace, "request_id")),
	r(rest2, patch, "/mlflow/traces/{request_id}/tags", TypeTrace, write, p(IDTrace, "request_id")).why("sets a trace tag value"),
	r(rest2, del, "/mlflow/traces/{request_id}/tags", TypeTrace, remove, p(IDTrace, "request_id")),
	r(rest2, post, "/mlflow/traces/delete-traces", TypeTrace, remove, b(IDExperiment, "experiment_id"), b(IDTrace, "request_ids[]")),
	r(rest2, post, "/mlflow/traces/link-to-run", TypeTrace, write, b(IDTrace, "trace_ids[]"), b(IDRun, "run_id")).why("links traces to a run; nothing is unlinked"),
	r(rest2, post, "/mlflow/traces/link-prompts", TypeTrace, write, b(IDTrace, "trace_id")).why("links prompt versions to a trace; nothing is unlinked"),
	// Declared in service.proto without an OSS handler (_not_implemented, 404).
	r(rest2, get, "/mlflow/unified-traces", TypeTrace, read, q(IDExperiment, "experiment_ids"), q(IDLoggedModel, "model_id")).rep("experiment_ids", "order_by"),
	r(rest2, get, "/mlflow/get-online-trace-details", TypeTrace, read, q(IDTrace, "trace_id")),
	r(ajax2, get, "/mlflow/get-trace-artifact", TypeTrace, read, q(IDTrace, "request_id")).artifact(),
	r(ajax3, get, "/mlflow/get-trace-artifact", TypeTrace, read, q(IDTrace, "request_id")).artifact(),

	// StartTraceV3 with the id of an existing trace overwrites it, its assessments
	// included (sqlalchemy_store._start_trace_once): the proxy looks first.
	r(rest3, post, "/mlflow/traces", TypeTrace, write, b(IDExperiment, "trace.trace_info.trace_location.mlflow_experiment.experiment_id"), b(IDTrace, "trace.trace_info.trace_id")).
		why("starts a new trace; over an existing trace id it is a delete").kind(KindTraceStart),
	r(rest3, get, "/mlflow/traces/get", TypeTrace, read, q(IDTrace, "trace_id")),
	r(rest3, get, "/mlflow/traces/batchGet", TypeTrace, read, q(IDTrace, "trace_ids"), q(IDExperiment, "experiment_ids")).rep("trace_ids", "experiment_ids"),
	r(rest3, post, "/mlflow/traces/batchGetInfos", TypeTrace, read, b(IDTrace, "trace_ids[]"), b(IDExperiment, "experiment_ids[]")),
	r(rest3, post, "/mlflow/traces/search", TypeTrace, read, b(IDExperiment, "locations[].mlflow_experiment.experiment_id")),
	r(rest3, post, "/mlflow/traces/delete-traces", TypeTrace, remove, b(IDExperiment, "experiment_id"), b(IDTrace, "request_ids[]")),
	r(rest3, post, "/mlflow/traces/calculate-filter-correlation", TypeTrace, read, b(IDExperiment, "experiment_ids[]")),
	r(rest3, post, "/mlflow/traces/metrics", TypeTrace, read, b(IDExperiment, "experiment_ids[]")),
	r(rest3, get, "/mlflow/traces/{trace_id}", TypeTrace, read, p(IDTrace, "trace_id")),
	r(rest3, patch, "/mlflow/traces/{trace_id}/tags", TypeTrace, write, p(IDTrace, "trace_id")).why("sets a trace tag value"),
	r(rest3, del, "/mlflow/traces/{trace_id}/tags", TypeTrace, remove, p(IDTrace, "trace_id")),
	// The proto path is /traces/{assessment.trace_id}/assessments; Flask gets <trace_id>.
	r(rest3, post, "/mlflow/traces/{trace_id}/assessments", TypeTrace, write, p(IDTrace, "trace_id")).why("adds an assessment").
		eff(whenSet("assessment.overrides", remove, "invalidates the assessment it overrides")),
	r(rest3, get, "/mlflow/traces/{trace_id}/assessments/{assessment_id}", TypeTrace, read, p(IDTrace, "trace_id")),
	r(rest3, patch, "/mlflow/traces/{trace_id}/assessments/{assessment_id}", TypeTrace, write, p(IDTrace, "trace_id")).why("updates an assessment's value or rationale"),
	r(rest3, del, "/mlflow/traces/{trace_id}/assessments/{assessment_id}", TypeTrace, remove, p(IDTrace, "trace_id")),

	r(root, post, "/v1/traces", TypeTrace, write, h(IDExperiment, "x-mlflow-experiment-id")).why("exports spans into the experiment; MLflow refuses traces of another experiment, and upserts spans by id (the gate does not read OTLP protobuf)"),
}
