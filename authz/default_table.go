package authz

import "slices"

// defaultResourceNames names the one resource per type of the default table.
var defaultResourceNames = map[ResourceType]string{
	TypeExperiment: "experiments", TypeRun: "runs", TypeLoggedModel: "logged_models",
	TypeTrace: "traces", TypeArtifact: "artifacts", TypeRegisteredModel: "registered_models",
	TypeModelVersion: "model_versions", TypePrompt: "prompts", TypeScorer: "scorers",
	TypeDataset: "datasets", TypeIssue: "issues", TypeLabelSchema: "label_schemas",
	TypeReviewQueue: "review_queues", TypeMCPServer: "mcp_servers", TypeSkill: "skills",
	TypeWorkspace: "workspaces", TypeGraphQL: "graphql", TypeServer: "server", TypeUI: "ui",
	TypeGateway: "gateway", TypeWebhook: "webhooks", TypeJob: "jobs",
	TypeAssistant: "assistant", TypeDemo: "demo",
}

// typeDescriptions say in a line what each type's routes act on: the
// descriptions of the default table's resources, and what `authz list`
// shows for a resource stored without one.
var typeDescriptions = map[ResourceType]string{
	TypeExperiment:      "experiments (create, search, rename, tag, delete, restore)",
	TypeRun:             "runs (create, log metrics, params and tags, search, delete, restore)",
	TypeLoggedModel:     "logged models (MLflow 3 models of a run or experiment) and their tags",
	TypeTrace:           "traces, spans, assessments and their tags (GenAI tracing)",
	TypeArtifact:        "artifact files of runs, logged models and traces (list, download, upload, delete)",
	TypeRegisteredModel: "registered models in the model registry (create, rename, tag, alias, delete)",
	TypeModelVersion:    "versions of registered models (create, stage, tag, download, delete)",
	TypePrompt:          "prompt optimization jobs (prompts themselves are registered models)",
	TypeScorer:          "scorers (GenAI evaluation judges) and their online configurations",
	TypeDataset:         "evaluation datasets and their records",
	TypeIssue:           "issues found in traces (GenAI quality tracking)",
	TypeLabelSchema:     "label schemas for human review of traces",
	TypeReviewQueue:     "review queues of traces and who reviews them",
	TypeMCPServer:       "MCP servers registered with MLflow and their versions",
	TypeSkill:           "agent skills registered with MLflow and their versions",
	TypeWorkspace:       "workspaces (MLflow run with --enable-workspaces)",
	TypeGraphQL:         "MLflow's GraphQL endpoint (the UI's batched reads), filtered per user",
	TypeServer:          "the server's health, version and server-info",
	TypeUI:              "the MLflow UI's pages and static files",
	TypeGateway:         "the AI gateway, its endpoints, secrets and model calls that spend money (Admin only)",
	TypeWebhook:         "webhooks, with which MLflow calls out to URLs on registry events (Admin only)",
	TypeJob:             "background jobs MLflow runs on the server (Admin only)",
	TypeAssistant:       "the UI's assistant, which runs tools on the server (Admin only)",
	TypeDemo:            "generating and deleting the UI's demo data (Admin only)",
}

// TypeDescription says what routes of type t act on ("" for an unknown type).
func TypeDescription(t ResourceType) string { return typeDescriptions[t] }

// Describe is the resource's description, or its type's when it has none
// (tables stored before the defaults had descriptions).
func (r Resource) Describe() string {
	if r.Description != "" {
		return r.Description
	}
	return TypeDescription(r.Type)
}

// AdminOnlyTypes are the resource types the seed grants to Admin alone: they run code
// or write files on the server (jobs, assistant, demo generation and deletion), make
// outbound requests (webhooks, the AI gateway) or spend money (gateway invocations).
// Invoking scorers, evaluations, issue detection and prompt optimization is scope use
// on ordinary types, and restoring deleted things is manage: Default holds neither.
var AdminOnlyTypes = []ResourceType{TypeGateway, TypeWebhook, TypeJob, TypeAssistant, TypeDemo}

// Seed role names.
const (
	RoleAdmin   = "Admin"
	RoleDefault = "Default"
)

// DefaultTable reproduces the seed's realm: one resource per route type offering the
// scopes its routes use; Default may read and write every ordinary resource; Admin
// holds every scope on every resource. So a Default user gets 403 on every delete,
// restore, invocation and Admin-only route, under every prefix.
func DefaultTable() Table {
	used := map[ResourceType][]Scope{}
	for _, rt := range Routes() {
		scopes := []Scope{rt.Scope}
		for _, e := range rt.Effects {
			scopes = append(scopes, e.Scope)
		}
		for _, s := range scopes {
			if !slices.Contains(used[rt.Type], s) {
				used[rt.Type] = append(used[rt.Type], s)
			}
		}
	}
	var t Table
	for _, typ := range ResourceTypes {
		var scopes []Scope
		for _, s := range AllScopes {
			if slices.Contains(used[typ], s) {
				scopes = append(scopes, s)
			}
		}
		if len(scopes) == 0 {
			continue
		}
		name := defaultResourceNames[typ]
		t.Resources = append(t.Resources, Resource{Name: name, Type: typ, Description: typeDescriptions[typ], Scopes: scopes})
		if !slices.Contains(AdminOnlyTypes, typ) {
			var def []Scope
			for _, s := range scopes {
				if s == ScopeRead || s == ScopeWrite {
					def = append(def, s)
				}
			}
			if len(def) > 0 {
				t.Permissions = append(t.Permissions, Permission{Role: RoleDefault, Resource: name, Scopes: def})
			}
		}
	}
	for _, res := range t.Resources {
		t.Permissions = append(t.Permissions, Permission{Role: RoleAdmin, Resource: res.Name, Scopes: slices.Clone(res.Scopes)})
	}
	return t
}
