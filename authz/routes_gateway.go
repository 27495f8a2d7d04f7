package authz

// The AI gateway. Its configuration (secrets, endpoints, model definitions, budgets,
// guardrails; MlflowService since 3.0) holds provider keys and decides where the server
// sends requests, and its invocation routes (FastAPI, mlflow/server/gateway_api.py,
// mounted at /gateway) spend money with those keys: the gateway type is Admin-only and
// invoking is use.
var gatewayRoutes = []spec{
	r(rest3, post, "/mlflow/gateway/secrets/create", TypeGateway, write).why("changes the AI gateway's configuration (keys, endpoints, budgets, guardrails): the gateway type is Admin-only"),
	r(rest3, get, "/mlflow/gateway/secrets/get", TypeGateway, read),
	r(rest3, post, "/mlflow/gateway/secrets/update", TypeGateway, write).why("changes the AI gateway's configuration (keys, endpoints, budgets, guardrails): the gateway type is Admin-only"),
	r(rest3, del, "/mlflow/gateway/secrets/delete", TypeGateway, remove),
	r(rest3, get, "/mlflow/gateway/secrets/list", TypeGateway, read),
	r(rest3, post, "/mlflow/gateway/endpoints/create", TypeGateway, write, b(IDExperiment, "experiment_id")).why("changes the AI gateway's configuration (keys, endpoints, budgets, guardrails): the gateway type is Admin-only"),
	r(rest3, get, "/mlflow/gateway/endpoints/get", TypeGateway, read, q(IDGatewayEndpoint, "endpoint_id")),
	r(rest3, post, "/mlflow/gateway/endpoints/update", TypeGateway, write, b(IDGatewayEndpoint, "endpoint_id")).why("changes the AI gateway's configuration (keys, endpoints, budgets, guardrails): the gateway type is Admin-only"),
	r(rest3, del, "/mlflow/gateway/endpoints/delete", TypeGateway, remove, b(IDGatewayEndpoint, "endpoint_id")),
	r(rest3, get, "/mlflow/gateway/endpoints/list", TypeGateway, read),
	r(rest3, post, "/mlflow/gateway/endpoints/models/attach", TypeGateway, write, b(IDGatewayEndpoint, "endpoint_id")).why("changes the AI gateway's configuration (keys, endpoints, budgets, guardrails): the gateway type is Admin-only"),
	r(rest3, post, "/mlflow/gateway/endpoints/models/detach", TypeGateway, write, b(IDGatewayEndpoint, "endpoint_id")).why("changes the AI gateway's configuration (keys, endpoints, budgets, guardrails): the gateway type is Admin-only"),
	r(rest3, post, "/mlflow/gateway/endpoints/bindings/create", TypeGateway, write, b(IDGatewayEndpoint, "endpoint_id")).why("changes the AI gateway's configuration (keys, endpoints, budgets, guardrails): the gateway type is Admin-only"),
	r(rest3, del, "/mlflow/gateway/endpoints/bindings/delete", TypeGateway, remove, b(IDGatewayEndpoint, "endpoint_id")),
	r(rest3, get, "/mlflow/gateway/endpoints/bindings/list", TypeGateway, read, q(IDGatewayEndpoint, "endpoint_id")),
	r(rest3, post, "/mlflow/gateway/endpoints/set-tag", TypeGateway, write, b(IDGatewayEndpoint, "endpoint_id")).why("changes the AI gateway's configuration (keys, endpoints, budgets, guardrails): the gateway type is Admin-only"),
	r(rest3, del, "/mlflow/gateway/endpoints/delete-tag", TypeGateway, remove, b(IDGatewayEndpoint, "endpoint_id")),
	r(rest3, post, "/mlflow/gateway/model-definitions/create", TypeGateway, write).why("changes the AI gateway's configuration (keys, endpoints, budgets, guardrails): the gateway type is Admin-only"),
	r(rest3, get, "/mlflow/gateway/model-definitions/get", TypeGateway, read),
	r(rest3, get, "/mlflow/gateway/model-definitions/list", TypeGateway, read),
	r(rest3, post, "/mlflow/gateway/model-definitions/update", TypeGateway, write).why("changes the AI gateway's configuration (keys, endpoints, budgets, guardrails): the gateway type is Admin-only"),
	r(rest3, del, "/mlflow/gateway/model-definitions/delete", TypeGateway, remove),
	r(rest3, post, "/mlflow/gateway/budgets/create", TypeGateway, write).why("changes the AI gateway's configuration (keys, endpoints, budgets, guardrails): the gateway type is Admin-only"),
	r(rest3, get, "/mlflow/gateway/budgets/get", TypeGateway, read),
	r(rest3, post, "/mlflow/gateway/budgets/update", TypeGateway, write).why("changes the AI gateway's configuration (keys, endpoints, budgets, guardrails): the gateway type is Admin-only"),
	r(rest3, del, "/mlflow/gateway/budgets/delete", TypeGateway, remove),
	r(rest3, get, "/mlflow/gateway/budgets/list", TypeGateway, read),
	r(rest3, get, "/mlflow/gateway/budgets/windows", TypeGateway, read),
	r(rest3, post, "/mlflow/gateway/guardrails/create", TypeGateway, write).why("changes the AI gateway's configuration (keys, endpoints, budgets, guardrails): the gateway type is Admin-only"),
	r(rest3, get, "/mlflow/gateway/guardrails/get", TypeGateway, read),
	r(rest3, del, "/mlflow/gateway/guardrails/delete", TypeGateway, remove),
	r(rest3, get, "/mlflow/gateway/guardrails/list", TypeGateway, read),
	r(rest3, post, "/mlflow/gateway/guardrails/add-to-endpoint", TypeGateway, write, b(IDGatewayEndpoint, "endpoint_id")).why("changes the AI gateway's configuration (keys, endpoints, budgets, guardrails): the gateway type is Admin-only"),
	r(rest3, del, "/mlflow/gateway/guardrails/remove-from-endpoint", TypeGateway, remove, b(IDGatewayEndpoint, "endpoint_id")),
	r(rest3, get, "/mlflow/gateway/guardrails/list-for-endpoint", TypeGateway, read, q(IDGatewayEndpoint, "endpoint_id")),
	r(rest3, patch, "/mlflow/gateway/guardrails/update-config", TypeGateway, write, b(IDGatewayEndpoint, "endpoint_id")).why("changes the AI gateway's configuration (keys, endpoints, budgets, guardrails): the gateway type is Admin-only"),
	// handlers.get_gateway_endpoints: UI helpers, plain handlers under /ajax-api only.
	r(ajax3, get, "/mlflow/gateway/supported-providers", TypeGateway, read),
	r(ajax3, get, "/mlflow/gateway/supported-models", TypeGateway, read),
	r(ajax3, get, "/mlflow/gateway/provider-config", TypeGateway, read),
	r(ajax3, get, "/mlflow/gateway/secrets/config", TypeGateway, read),
	// The legacy deployments proxy forwards to MLFLOW_DEPLOYMENTS_TARGET.
	r(ajax2, get, "/mlflow/gateway-proxy", TypeGateway, use),
	r(ajax2, post, "/mlflow/gateway-proxy", TypeGateway, use),

	// Invocations. Passthrough routes name the endpoint in the body's "model" field
	// (auth/__init__.py _extract_gateway_endpoint_name), the others in the path.
	// Starlette tries routes in declaration order and /{endpoint_name}/mlflow/invocations
	// is declared first, so it wins over /proxy/{endpoint_name}/... for
	// /gateway/proxy/mlflow/invocations: first() makes the gate read it the same way.
	r(root, post, "/gateway/{endpoint_name}/mlflow/invocations", TypeGateway, use, p(IDGatewayEndpoint, "endpoint_name")).first(),
	r(root, post, "/gateway/mlflow/v1/chat/completions", TypeGateway, use, b(IDGatewayEndpoint, "model")),
	r(root, get, "/gateway/mlflow/v1/models", TypeGateway, read),
	r(root, post, "/gateway/openai/v1/chat/completions", TypeGateway, use, b(IDGatewayEndpoint, "model")),
	r(root, post, "/gateway/openai/v1/embeddings", TypeGateway, use, b(IDGatewayEndpoint, "model")),
	r(root, post, "/gateway/openai/v1/responses", TypeGateway, use, b(IDGatewayEndpoint, "model")),
	r(root, post, "/gateway/openai/v1/responses/compact", TypeGateway, use, b(IDGatewayEndpoint, "model")),
	r(root, post, "/gateway/anthropic/v1/messages", TypeGateway, use, b(IDGatewayEndpoint, "model")),
	r(root, post, "/gateway/typesafe/v1/systemone", TypeGateway, use, b(IDGatewayEndpoint, "model")),
	r(root, post, "/gateway/gemini/v1beta/models/{endpoint_name}:generateContent", TypeGateway, use, p(IDGatewayEndpoint, "endpoint_name")),
	r(root, post, "/gateway/gemini/v1beta/models/{endpoint_name}:streamGenerateContent", TypeGateway, use, p(IDGatewayEndpoint, "endpoint_name")),
	r(root, post, "/gateway/proxy/{endpoint_name}/{path...}", TypeGateway, use, p(IDGatewayEndpoint, "endpoint_name")),
}

// The MCP server and skill registries (FastAPI routers in mcp_server_api.py and
// skill_registry_api.py, mounted under both /api/3.0 and /ajax-api/3.0). They store
// metadata; nothing here runs or fetches anything, so they are ordinary resources.
//
// MCP server names are "<namespace>/<slug>" and Starlette reads {name:path} as a
// greedy ".*", so these are the only routes with a multi-segment parameter in the
// middle. The gate tries the shortest name that lets the rest of the path match a
// route; for every name MLflow accepts (two segments, slug not one of aliases,
// endpoints, tags, versions: entities/mcp_server.py) that is the name MLflow reads,
// and all routes of one method here share one scope, so the decision never depends on
// the split.
var registryAppRoutes = []spec{
	r(both3, post, "/mlflow/mcp-servers", TypeMCPServer, write).why("registers an MCP server (metadata; the server never connects to it)"),
	r(both3, get, "/mlflow/mcp-servers", TypeMCPServer, read),
	r(both3, get, "/mlflow/mcp-servers/endpoints", TypeMCPServer, read),
	r(both3, get, "/mlflow/mcp-servers/{name...}", TypeMCPServer, read, p(IDMCPServer, "name")),
	r(both3, patch, "/mlflow/mcp-servers/{name...}", TypeMCPServer, write, p(IDMCPServer, "name")).why("edits display name, description and icons"),
	r(both3, del, "/mlflow/mcp-servers/{name...}", TypeMCPServer, remove, p(IDMCPServer, "name")),
	r(both3, post, "/mlflow/mcp-servers/{name...}/tags", TypeMCPServer, write, p(IDMCPServer, "name")).why("sets a tag value"),
	r(both3, del, "/mlflow/mcp-servers/{name...}/tags/{key...}", TypeMCPServer, remove, p(IDMCPServer, "name")),
	r(both3, post, "/mlflow/mcp-servers/{name...}/aliases", TypeMCPServer, write, p(IDMCPServer, "name")).why("points an alias at a version (moving it if it existed); versions stay"),
	r(both3, get, "/mlflow/mcp-servers/{name...}/aliases/{alias...}", TypeMCPServer, read, p(IDMCPServer, "name")),
	r(both3, del, "/mlflow/mcp-servers/{name...}/aliases/{alias...}", TypeMCPServer, remove, p(IDMCPServer, "name")),
	r(both3, get, "/mlflow/mcp-servers/{name...}/versions", TypeMCPServer, read, p(IDMCPServer, "name")),
	r(both3, post, "/mlflow/mcp-servers/{name...}/versions", TypeMCPServer, write, p(IDMCPServer, "name")).why("adds a version; its source is stored metadata the server never opens"),
	r(both3, get, "/mlflow/mcp-servers/{name...}/versions/{version...}", TypeMCPServer, read, p(IDMCPServer, "name")),
	r(both3, patch, "/mlflow/mcp-servers/{name...}/versions/{version...}", TypeMCPServer, write, p(IDMCPServer, "name")).why("edits a version's status, tools and connect options").eff(whenEquals("status", "deleted", remove, "deletes the version and, when no version is left, its latest endpoints")),
	r(both3, del, "/mlflow/mcp-servers/{name...}/versions/{version...}", TypeMCPServer, remove, p(IDMCPServer, "name")),
	r(both3, post, "/mlflow/mcp-servers/{name...}/versions/{version...}/tags", TypeMCPServer, write, p(IDMCPServer, "name")).why("sets a tag value"),
	r(both3, del, "/mlflow/mcp-servers/{name...}/versions/{version...}/tags/{key...}", TypeMCPServer, remove, p(IDMCPServer, "name")),
	r(both3, get, "/mlflow/mcp-servers/{name...}/endpoints", TypeMCPServer, read, p(IDMCPServer, "name")),
	r(both3, post, "/mlflow/mcp-servers/{name...}/endpoints", TypeMCPServer, write, p(IDMCPServer, "name")).why("records an access endpoint URL (metadata; never connected to)"),
	r(both3, get, "/mlflow/mcp-servers/{name...}/endpoints/{endpoint_id}", TypeMCPServer, read, p(IDMCPServer, "name")),
	r(both3, patch, "/mlflow/mcp-servers/{name...}/endpoints/{endpoint_id}", TypeMCPServer, write, p(IDMCPServer, "name")).why("edits an access endpoint's URL, transport and target version"),
	r(both3, del, "/mlflow/mcp-servers/{name...}/endpoints/{endpoint_id}", TypeMCPServer, remove, p(IDMCPServer, "name")),
}

// skillRoutes expands the skill registry's routes, which exist twice: for a plain
// skill (/skills/{name}/...) and for an organization's (/skills/@{organization}/{name}/...).
// The "@" prefix segment is tried before a plain parameter, as Starlette does by
// declaring the organization routes first where both could match.
func skillRoutes() []spec {
	out := []spec{
		r(both3, post, "/mlflow/skills", TypeSkill, write).why("creates a skill"),
		r(both3, get, "/mlflow/skills", TypeSkill, read),
		r(both3, post, "/mlflow/skills/bulk-register", TypeSkill, write).why("registers versions from remote sources (stored, never fetched); identical versions are reused"),
	}
	for _, base := range []string{"/mlflow/skills/{name}", "/mlflow/skills/@{organization}/{name}"} {
		id := p(IDSkill, "name")
		out = append(out,
			r(both3, get, base, TypeSkill, read, id),
			r(both3, patch, base, TypeSkill, write, id).why("edits description and icons"),
			r(both3, del, base, TypeSkill, remove, id),
			r(both3, post, base+"/tags", TypeSkill, write, id).why("sets a tag value"),
			r(both3, del, base+"/tags/{key...}", TypeSkill, remove, id),
			r(both3, post, base+"/aliases", TypeSkill, write, id).why("points an alias at a version (moving it if it existed); versions stay"),
			r(both3, get, base+"/aliases/{alias}", TypeSkill, read, id),
			r(both3, del, base+"/aliases/{alias}", TypeSkill, remove, id),
			r(both3, get, base+"/versions", TypeSkill, read, id),
			r(both3, post, base+"/versions", TypeSkill, write, id).why("adds a version: a remote source (stored, never fetched) or an upload to a fresh server-chosen path"),
			r(both3, get, base+"/versions/{version}", TypeSkill, read, id),
			r(both3, patch, base+"/versions/{version}", TypeSkill, write, id).why("moves a version between draft, active and deprecated").
				eff(whenEquals("status", "deleted", remove, "deletes the version and every alias on it")),
			r(both3, del, base+"/versions/{version}", TypeSkill, remove, id),
			r(both3, post, base+"/versions/{version}/tags", TypeSkill, write, id).why("sets a tag value"),
			r(both3, del, base+"/versions/{version}/tags/{key...}", TypeSkill, remove, id),
		)
	}
	return out
}
