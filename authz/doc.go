// Package authz is mlflow-gate's permission model and decision engine. It owns:
//
//   - path normalization: the request's raw path is refused when MLflow (Werkzeug,
//     Starlette) and the gate could read it differently (dot segments, encoded
//     slashes, double slashes, backslashes, NUL, bad escapes);
//   - the route table: every route the pinned MLflow serves (its Flask app and the
//     FastAPI routers in front of it), each mapped to a resource type, a scope and the
//     places its ids travel, with the facts the proxy acts on (RouteKind: run
//     creation, run-tag writes, uploads, trace starts, UI telemetry, GraphQL;
//     Route.Artifact for routes serving files), compiled into a literal-first
//     matcher that Locate runs once per request;
//   - strict readers for query strings, JSON bodies and GraphQL documents that refuse
//     ambiguity (repeated keys, duplicate or case-variant JSON keys) instead of guessing;
//   - effects: body fields that make a write delete, overwrite or relocate data raise
//     the scope the decision asks for (effect.go); changing or deleting the run tag
//     mlflow.user is one, asking for manage (usertag.go); every route says why its
//     scope is what it is, and the golden file shows it;
//   - the permission table (resources, role permissions), its YAML form and diff, and
//     its compilation into an immutable Policy whose Decide answers with the rule and
//     the reason, swapped atomically through a Holder.
//
// The package does no I/O: callers hand it bytes they have already read (the proxy
// reads bodies with a limit, the database layer stores tables), which keeps decisions
// pure, benchmarkable and fuzzable.
package authz
