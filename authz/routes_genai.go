package authz

// GenAI evaluation: scorers, datasets, issues, labeling (MlflowService, since 3.0).
// Invoking scorers, evaluations and issue detection runs LLM judges as server jobs
// (code and money): scope use, which the Default role does not hold.
var genaiRoutes = []spec{
	r(rest3, post, "/mlflow/scorers/register", TypeScorer, write, b(IDExperiment, "experiment_id")).why("adds a scorer version; earlier versions stay"),
	r(rest3, get, "/mlflow/scorers/list", TypeScorer, read, q(IDExperiment, "experiment_id"), q(IDExperiment, "experiment_ids")).rep("experiment_ids"),
	r(rest3, get, "/mlflow/scorers/versions", TypeScorer, read, q(IDExperiment, "experiment_id")),
	r(rest3, get, "/mlflow/scorers/get", TypeScorer, read, q(IDExperiment, "experiment_id")),
	r(rest3, del, "/mlflow/scorers/delete", TypeScorer, remove, b(IDExperiment, "experiment_id")),
	// handlers.get_internal_online_scoring_endpoints: plain handlers on both prefixes.
	// An online-scoring config makes the server score new traces continuously.
	r(both3, get, "/mlflow/scorers/online-configs", TypeScorer, read).rep("scorer_ids"),
	r(both3, put, "/mlflow/scorers/online-config", TypeScorer, use, b(IDExperiment, "experiment_id")),
	r(ajax3, post, "/mlflow/scorer/invoke", TypeScorer, use, b(IDExperiment, "experiment_id"), b(IDTrace, "trace_ids[]")),
	r(ajax3, post, "/mlflow/genai/evaluate/invoke", TypeScorer, use, b(IDExperiment, "experiment_id"), b(IDTrace, "trace_ids[]")),

	r(rest3, post, "/mlflow/datasets/create", TypeDataset, write, b(IDExperiment, "experiment_ids[]")).why("creates a dataset"),
	r(rest3, get, "/mlflow/datasets/search", TypeDataset, read, q(IDExperiment, "experiment_ids")).rep("experiment_ids", "order_by"),
	r(rest3, post, "/mlflow/datasets/search", TypeDataset, read, b(IDExperiment, "experiment_ids[]")),
	r(rest3, get, "/mlflow/datasets/{dataset_id}", TypeDataset, read, p(IDDataset, "dataset_id")),
	r(rest3, del, "/mlflow/datasets/{dataset_id}", TypeDataset, remove, p(IDDataset, "dataset_id")),
	r(rest3, patch, "/mlflow/datasets/{dataset_id}/tags", TypeDataset, write, p(IDDataset, "dataset_id")).why("merges tag values; a null value is skipped, not deleted"),
	r(rest3, del, "/mlflow/datasets/{dataset_id}/tags/{key}", TypeDataset, remove, p(IDDataset, "dataset_id")),
	r(rest3, get, "/mlflow/datasets/{dataset_id}/records", TypeDataset, read, p(IDDataset, "dataset_id")),
	r(rest3, post, "/mlflow/datasets/{dataset_id}/records", TypeDataset, write, p(IDDataset, "dataset_id")).why("upserts records keyed by their inputs: editing a record in place is the route's purpose"),
	r(rest3, del, "/mlflow/datasets/{dataset_id}/records", TypeDataset, remove, p(IDDataset, "dataset_id")),
	r(rest3, get, "/mlflow/datasets/{dataset_id}/experiment-ids", TypeDataset, read, p(IDDataset, "dataset_id")),
	r(rest3, post, "/mlflow/datasets/{dataset_id}/add-experiments", TypeDataset, write, p(IDDataset, "dataset_id"), b(IDExperiment, "experiment_ids[]")).why("links the dataset to more experiments"),
	r(rest3, post, "/mlflow/datasets/{dataset_id}/remove-experiments", TypeDataset, remove, p(IDDataset, "dataset_id"), b(IDExperiment, "experiment_ids[]")),

	r(rest3, post, "/mlflow/issues", TypeIssue, write, b(IDExperiment, "experiment_id")).why("creates an issue"),
	r(rest3, post, "/mlflow/issues/search", TypeIssue, read, b(IDExperiment, "experiment_id")),
	r(rest3, get, "/mlflow/issues/{issue_id}", TypeIssue, read, p(IDIssue, "issue_id")),
	r(rest3, patch, "/mlflow/issues/{issue_id}", TypeIssue, write, p(IDIssue, "issue_id")).why("edits name, description, status, severity, categories and merges metadata").eff(whenSet("delete_metadata_keys", remove, "deletes those metadata keys of the issue")),
	r(ajax3, post, "/mlflow/issues/invoke", TypeIssue, use, b(IDExperiment, "experiment_id"), b(IDTrace, "trace_ids[]")),
	r(ajax3, post, "/mlflow/issues/schedule/state", TypeIssue, use, b(IDExperiment, "experiment_id")),

	r(rest3, post, "/mlflow/label-schemas/create", TypeLabelSchema, write, b(IDExperiment, "experiment_id")).why("creates a label schema"),
	r(rest3, get, "/mlflow/label-schemas/get", TypeLabelSchema, read),
	r(rest3, get, "/mlflow/label-schemas/get-by-name", TypeLabelSchema, read, q(IDExperiment, "experiment_id")),
	r(rest3, get, "/mlflow/label-schemas/list", TypeLabelSchema, read, q(IDExperiment, "experiment_id")),
	r(rest3, patch, "/mlflow/label-schemas/update", TypeLabelSchema, write).why("edits a schema's name, instruction and input; its type and labels stay"),
	r(rest3, del, "/mlflow/label-schemas/delete", TypeLabelSchema, remove),

	r(rest3, post, "/mlflow/review-queues/create", TypeReviewQueue, write, b(IDExperiment, "experiment_id")).why("creates a review queue"),
	r(rest3, post, "/mlflow/review-queues/get-or-create-user", TypeReviewQueue, write, b(IDExperiment, "experiment_id")).why("creates a user's review queue if it has none"),
	r(rest3, get, "/mlflow/review-queues/get", TypeReviewQueue, read),
	r(rest3, get, "/mlflow/review-queues/get-by-name", TypeReviewQueue, read, q(IDExperiment, "experiment_id")),
	r(rest3, get, "/mlflow/review-queues/list", TypeReviewQueue, read, q(IDExperiment, "experiment_id")),
	r(rest3, post, "/mlflow/review-queues/update", TypeReviewQueue, write).why("renames a queue").eff(whenTrue("update_users", remove, "replaces the queue's assignees, removing those it leaves out")).eff(whenTrue("update_schema_ids", remove, "replaces the queue's label schemas, unlinking those it leaves out")).eff(whenSet("new_owner", manage, "hands the queue to another owner")),
	r(rest3, post, "/mlflow/review-queues/delete", TypeReviewQueue, remove),
	r(rest3, post, "/mlflow/review-queues/items/add", TypeReviewQueue, write).why("adds traces to a queue"),
	r(rest3, post, "/mlflow/review-queues/items/remove", TypeReviewQueue, remove),
	r(rest3, post, "/mlflow/review-queues/items/set-status", TypeReviewQueue, write).why("sets a queue item's review status"),
	r(rest3, get, "/mlflow/review-queues/items/list", TypeReviewQueue, read),

	// Prompt optimization runs an optimizer job against LLMs: starting one is use.
	r(rest3, post, "/mlflow/prompt-optimization/jobs", TypePrompt, use, b(IDExperiment, "experiment_id")),
	r(rest3, get, "/mlflow/prompt-optimization/jobs/search", TypePrompt, read, q(IDExperiment, "experiment_id")),
	r(rest3, post, "/mlflow/prompt-optimization/jobs/search", TypePrompt, read, b(IDExperiment, "experiment_id")),
	r(rest3, get, "/mlflow/prompt-optimization/jobs/{job_id}", TypePrompt, read, p(IDJob, "job_id")),
	r(rest3, post, "/mlflow/prompt-optimization/jobs/{job_id}/cancel", TypePrompt, manage, p(IDJob, "job_id")),
	r(rest3, del, "/mlflow/prompt-optimization/jobs/{job_id}", TypePrompt, remove, p(IDJob, "job_id")),
}

// Server-side jobs, demo data and the assistant: Admin-only resource types. The jobs
// API submits any registered job function (mlflow/server/job_api.py), demo/delete
// hard-deletes an experiment, and the assistant runs coding-agent tools on the server
// (mlflow/server/assistant/api.py) and installs skills into its filesystem.
var serverSideRoutes = []spec{
	r(ajax3, get, "/mlflow/jobs/{job_id}", TypeJob, read, p(IDJob, "job_id")),
	r(ajax3, patch, "/mlflow/jobs/cancel/{job_id}", TypeJob, manage, p(IDJob, "job_id")),
	r(root, get, "/ajax-api/3.0/jobs/{job_id}", TypeJob, read, p(IDJob, "job_id")),
	r(root, post, "/ajax-api/3.0/jobs/", TypeJob, use),
	r(root, post, "/ajax-api/3.0/jobs/search", TypeJob, read),
	r(root, patch, "/ajax-api/3.0/jobs/cancel/{job_id}", TypeJob, manage, p(IDJob, "job_id")),

	r(ajax3, post, "/mlflow/demo/generate", TypeDemo, write).why("generates demo experiments and traces on the server: the demo type is Admin-only"),
	r(ajax3, post, "/mlflow/demo/delete", TypeDemo, remove),

	r(ajax3, post, "/mlflow/assistant/message", TypeAssistant, use, b(IDExperiment, "experiment_id")),
	r(ajax3, get, "/mlflow/assistant/sessions/{session_id}/stream", TypeAssistant, read),
	r(ajax3, patch, "/mlflow/assistant/sessions/{session_id}", TypeAssistant, use),
	r(ajax3, post, "/mlflow/assistant/sessions/{session_id}/permission", TypeAssistant, use),
	r(ajax3, post, "/mlflow/assistant/sessions/{session_id}/tool-result", TypeAssistant, use),
	r(ajax3, get, "/mlflow/assistant/providers", TypeAssistant, read),
	r(ajax3, get, "/mlflow/assistant/providers/{provider}/health", TypeAssistant, use),
	r(ajax3, get, "/mlflow/assistant/providers/{provider}/models", TypeAssistant, use),
	r(ajax3, get, "/mlflow/assistant/config", TypeAssistant, read),
	r(ajax3, put, "/mlflow/assistant/config", TypeAssistant, manage),
	r(ajax3, post, "/mlflow/assistant/skills/install", TypeAssistant, manage),
}
