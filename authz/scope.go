package authz

import "fmt"

// Scope is what a route does to its resource, modeled on UMA scopes.
type Scope uint8

// Scopes. delete covers deleting things and their tags and aliases; restoring deleted
// things is manage; use is invoking something that runs code or spends money.
const (
	ScopeRead Scope = iota + 1
	ScopeWrite
	ScopeDelete
	ScopeManage
	ScopeUse
)

var scopeNames = [...]string{ScopeRead: "read", ScopeWrite: "write", ScopeDelete: "delete", ScopeManage: "manage", ScopeUse: "use"}

// AllScopes lists every scope in a stable order.
var AllScopes = []Scope{ScopeRead, ScopeWrite, ScopeDelete, ScopeManage, ScopeUse}

func (s Scope) String() string {
	if s >= ScopeRead && int(s) < len(scopeNames) {
		return scopeNames[s]
	}
	return fmt.Sprintf("scope(%d)", uint8(s))
}

// ParseScope reads a scope name as written in tables and YAML files.
func ParseScope(name string) (Scope, error) {
	for s := ScopeRead; int(s) < len(scopeNames); s++ {
		if scopeNames[s] == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("authz: unknown scope %q", name)
}

// MarshalText writes the scope's name (YAML and JSON use it).
func (s Scope) MarshalText() ([]byte, error) {
	if s < ScopeRead || int(s) >= len(scopeNames) {
		return nil, fmt.Errorf("authz: invalid scope %d", uint8(s))
	}
	return []byte(scopeNames[s]), nil
}

// UnmarshalText reads a scope name.
func (s *Scope) UnmarshalText(b []byte) error {
	v, err := ParseScope(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ResourceType is the kind of MLflow object a route acts on.
type ResourceType string

// Resource types of the route table. The Admin-only ones (gateway, webhook, job,
// assistant, demo) run code, write server files, make outbound requests or spend money.
const (
	TypeExperiment      ResourceType = "experiment"
	TypeRun             ResourceType = "run"
	TypeLoggedModel     ResourceType = "logged_model"
	TypeTrace           ResourceType = "trace"
	TypeArtifact        ResourceType = "artifact"
	TypeRegisteredModel ResourceType = "registered_model"
	TypeModelVersion    ResourceType = "model_version"
	TypePrompt          ResourceType = "prompt"
	TypeScorer          ResourceType = "scorer"
	TypeDataset         ResourceType = "dataset"
	TypeIssue           ResourceType = "issue"
	TypeLabelSchema     ResourceType = "label_schema"
	TypeReviewQueue     ResourceType = "review_queue"
	TypeMCPServer       ResourceType = "mcp_server"
	TypeSkill           ResourceType = "skill"
	TypeWorkspace       ResourceType = "workspace"
	TypeGraphQL         ResourceType = "graphql"
	TypeServer          ResourceType = "server"
	TypeUI              ResourceType = "ui"
	TypeGateway         ResourceType = "gateway"
	TypeWebhook         ResourceType = "webhook"
	TypeJob             ResourceType = "job"
	TypeAssistant       ResourceType = "assistant"
	TypeDemo            ResourceType = "demo"
)

// ResourceTypes lists every type the route table uses, in a stable order.
var ResourceTypes = []ResourceType{
	TypeExperiment, TypeRun, TypeLoggedModel, TypeTrace, TypeArtifact,
	TypeRegisteredModel, TypeModelVersion, TypePrompt, TypeScorer, TypeDataset,
	TypeIssue, TypeLabelSchema, TypeReviewQueue, TypeMCPServer, TypeSkill,
	TypeWorkspace, TypeGraphQL, TypeServer, TypeUI,
	TypeGateway, TypeWebhook, TypeJob, TypeAssistant, TypeDemo,
}

func knownType(t ResourceType) bool {
	for _, k := range ResourceTypes {
		if k == t {
			return true
		}
	}
	return false
}
