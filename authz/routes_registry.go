package authz

// Model registry (ModelRegistryService in model_registry.proto). Registered models are
// named, not numbered; prompts are registered models tagged mlflow.prompt.is_prompt,
// so they travel through these same routes. Deleting tags and aliases is delete.
var registryRoutes = []spec{
	r(rest2, post, "/mlflow/registered-models/create", TypeRegisteredModel, write, b(IDRegisteredModel, "name")).why("creates a registered model").kind(KindRegisteredModelCreate),
	r(rest2, get, "/mlflow/registered-models/get", TypeRegisteredModel, read, q(IDRegisteredModel, "name")),
	r(rest2, get, "/mlflow/registered-models/search", TypeRegisteredModel, read).rep("order_by").kind(KindRegisteredModelSearch),
	r(rest2, post, "/mlflow/registered-models/rename", TypeRegisteredModel, write, b(IDRegisteredModel, "name")).why("renames the model; versions and aliases move with it"),
	r(rest2, patch, "/mlflow/registered-models/update", TypeRegisteredModel, write, b(IDRegisteredModel, "name")).why("sets the description"),
	r(rest2, del, "/mlflow/registered-models/delete", TypeRegisteredModel, remove, b(IDRegisteredModel, "name")),
	r(rest2, get, "/mlflow/registered-models/get-latest-versions", TypeRegisteredModel, read, q(IDRegisteredModel, "name")).rep("stages"),
	r(rest2, post, "/mlflow/registered-models/get-latest-versions", TypeRegisteredModel, read, b(IDRegisteredModel, "name")),
	r(rest2, post, "/mlflow/registered-models/set-tag", TypeRegisteredModel, write, b(IDRegisteredModel, "name")).why("sets a tag value"),
	r(rest2, del, "/mlflow/registered-models/delete-tag", TypeRegisteredModel, remove, b(IDRegisteredModel, "name")),
	r(rest2, get, "/mlflow/registered-models/alias", TypeRegisteredModel, read, q(IDRegisteredModel, "name")),
	r(rest2, post, "/mlflow/registered-models/alias", TypeRegisteredModel, write, b(IDRegisteredModel, "name")).why("points an alias at a version (moving it if it existed); the version itself stays"),
	r(rest2, del, "/mlflow/registered-models/alias", TypeRegisteredModel, remove, b(IDRegisteredModel, "name")),

	r(rest2, post, "/mlflow/model-versions/create", TypeModelVersion, write, b(IDRegisteredModel, "name"), b(IDRun, "run_id"), b(IDLoggedModel, "model_id"), src("source")).why("registers a version of a run's or logged model's files, which MLflow checks against them; the run, logged model or folder its source names must be readable (a registered model it names, writable)").eff(whenOutsideLayout("source", manage, "makes MLflow serve files from a location the caller names, with its own credentials", promptSources...)),
	r(rest2, get, "/mlflow/model-versions/get", TypeModelVersion, read, q(IDRegisteredModel, "name"), q(IDModelVersion, "version")),
	r(rest2, get, "/mlflow/model-versions/search", TypeModelVersion, read).rep("order_by").kind(KindModelVersionSearch),
	r(rest2, get, "/mlflow/model-versions/get-download-uri", TypeModelVersion, read, q(IDRegisteredModel, "name"), q(IDModelVersion, "version")),
	r(rest2, patch, "/mlflow/model-versions/update", TypeModelVersion, write, b(IDRegisteredModel, "name"), b(IDModelVersion, "version")).why("sets the description"),
	r(rest2, post, "/mlflow/model-versions/transition-stage", TypeModelVersion, write, b(IDRegisteredModel, "name"), b(IDModelVersion, "version")).why("moves the version to a stage").eff(whenTrue("archive_existing_versions", remove, "archives every other version in the target stage")),
	r(rest2, post, "/mlflow/model-versions/set-tag", TypeModelVersion, write, b(IDRegisteredModel, "name"), b(IDModelVersion, "version")).why("sets a tag value"),
	r(rest2, del, "/mlflow/model-versions/delete-tag", TypeModelVersion, remove, b(IDRegisteredModel, "name"), b(IDModelVersion, "version")),
	r(rest2, del, "/mlflow/model-versions/delete", TypeModelVersion, remove, b(IDRegisteredModel, "name"), b(IDModelVersion, "version")),
}

// The artifact proxy (MlflowArtifactsService in mlflow_artifacts.proto; 3.18 also
// serves GET/PUT natively in mlflow/server/artifact_router.py). The artifact path is
// <experiment_id>/<run_id>/artifacts/..., <experiment_id>/models/<model_id>/... or
// <experiment_id>/traces/<trace_id>/..., so the experiment is its first segment. These
// are the only routes with a trailing multi-segment parameter besides UI files, the
// gateway's raw proxy and registry tag keys.
var artifactRoutes = []spec{
	r(rest2, get, "/mlflow-artifacts/artifacts", TypeArtifact, read, q(IDArtifactPath, "path")).gate(StoreList),
	r(rest2, get, "/mlflow-artifacts/artifacts/{artifact_path...}", TypeArtifact, read, p(IDArtifactPath, "artifact_path")).gate(StoreDownload),
	r(rest2, put, "/mlflow-artifacts/artifacts/{artifact_path...}", TypeArtifact, write, p(IDArtifactPath, "artifact_path")).why("writes a new artifact file; over an existing file it is a delete").kind(KindArtifactUpload).gate(StoreUpload),
	r(rest2, del, "/mlflow-artifacts/artifacts/{artifact_path...}", TypeArtifact, remove, p(IDArtifactPath, "artifact_path")).gate(StoreDelete),
	r(rest2, post, "/mlflow-artifacts/mpu/create/{artifact_path...}", TypeArtifact, write, p(IDArtifactPath, "artifact_path")).why("starts a multipart upload of a new file; over an existing file it is a delete").kind(KindMultipartUpload).gate(StoreMultipartCreate),
	r(rest2, post, "/mlflow-artifacts/mpu/complete/{artifact_path...}", TypeArtifact, write, p(IDArtifactPath, "artifact_path")).why("completes a multipart upload of a new file; over an existing file it is a delete").kind(KindMultipartUpload).gate(StoreMultipartComplete),
	// Aborting throws away the uploaded parts of upload_id, whoever started it.
	r(rest2, post, "/mlflow-artifacts/mpu/abort/{artifact_path...}", TypeArtifact, remove, p(IDArtifactPath, "artifact_path")).why("discards the parts of an upload in progress, whoever started it").gate(StoreMultipartAbort),
	r(rest2, get, "/mlflow-artifacts/presigned/{artifact_path...}", TypeArtifact, read, p(IDArtifactPath, "artifact_path")).gate(StorePresignedDownload),
}

// Webhooks (WebhookService) make the server send requests to a caller-chosen URL:
// Admin-only. Workspaces (--enable-workspaces): reading them is ordinary (the UI lists
// them), administering them is manage or delete.
var adminRoutes = []spec{
	r(rest2, post, "/mlflow/webhooks", TypeWebhook, write).why("registers a webhook; the type is Admin-only"),
	r(rest2, get, "/mlflow/webhooks", TypeWebhook, read),
	r(rest2, get, "/mlflow/webhooks/{webhook_id}", TypeWebhook, read, p(IDWebhook, "webhook_id")),
	r(rest2, patch, "/mlflow/webhooks/{webhook_id}", TypeWebhook, write, p(IDWebhook, "webhook_id")).why("changes a webhook; the type is Admin-only"),
	r(rest2, del, "/mlflow/webhooks/{webhook_id}", TypeWebhook, remove, p(IDWebhook, "webhook_id")),
	r(rest2, post, "/mlflow/webhooks/{webhook_id}/test", TypeWebhook, use, p(IDWebhook, "webhook_id")),

	r(rest3, get, "/mlflow/workspaces", TypeWorkspace, read),
	r(rest3, post, "/mlflow/workspaces", TypeWorkspace, manage, b(IDWorkspace, "name")),
	r(rest3, get, "/mlflow/workspaces/{workspace_name}", TypeWorkspace, read, p(IDWorkspace, "workspace_name")),
	r(rest3, patch, "/mlflow/workspaces/{workspace_name}", TypeWorkspace, manage, p(IDWorkspace, "workspace_name")),
	r(rest3, del, "/mlflow/workspaces/{workspace_name}", TypeWorkspace, remove, p(IDWorkspace, "workspace_name")),
}

// The UI and server information. /build/... is Flask's own static route: MLflow
// creates its app with static_folder="js/build", so Flask also serves the UI bundle
// under /build next to the /static-files route MLflow adds itself.
var serverRoutes = []spec{
	r(root, get, "/", TypeUI, read),
	r(root, get, "/static-files/{path...}", TypeUI, read),
	r(root, get, "/build/{filename...}", TypeUI, read),
	r(ajax3, get, "/mlflow/ui-telemetry", TypeUI, read).kind(KindUITelemetry),
	r(ajax3, post, "/mlflow/ui-telemetry", TypeUI, write).why("records UI telemetry events").kind(KindUITelemetry),
	r(root, get, "/health", TypeServer, read),
	r(root, get, "/version", TypeServer, read),
	r(both3, get, "/mlflow/server-info", TypeServer, read),
	// GraphQL reads its JSON body on GET too (handlers._graphql uses get_json).
	r(root, get, "/graphql", TypeGraphQL, read).kind(KindGraphQL),
	r(root, post, "/graphql", TypeGraphQL, read).kind(KindGraphQL),
}
