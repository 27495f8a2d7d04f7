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
		t.Resources = append(t.Resources, Resource{Name: name, Type: typ, Scopes: scopes})
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
