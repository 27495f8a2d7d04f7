"""Print every (method, path rule) the installed MLflow server serves, as JSON.

Run by authz's coverage test with the interpreter in MLFLOW_GATE_TEST_PYTHON.
MLflow 3.18 composes its server in mlflow/server/fastapi_app.py:create_fastapi_app:
native FastAPI routers (OTLP /v1/traces, jobs, gateway, assistant, artifact
streaming, MCP and skill registries, server-info, /health) come first and the
Flask app (mlflow.server:app, built from handlers.get_endpoints() plus the plain
routes in mlflow/server/__init__.py) is mounted at "/" behind them. Both route
lists are printed; the Go test takes their union.

Output: {"mlflow_version": "...", "routes": [{"method": "GET", "path": "/x/{id}",
"source": "flask"|"fastapi"}, ...], "proto": [...]}. "proto" lists the endpoints
MLflow reads with handlers._get_request_message (the protobuf services'
endpoints, expanded by handlers._get_paths exactly as the Flask app registers them)
with their request message's top-level fields and which of them are repeated: the
Go test checks the table's id keys and repeatable query keys against them.

Flask's <conv:name> is rewritten to {name} or {name:path}, so both apps use one
syntax. HEAD and OPTIONS are left out: Flask adds them to every rule on its own
and the gate decides HEAD as GET.
"""

import json
import os
import re
import sys

# A static prefix (handlers.STATIC_PREFIX_ENV_VAR) would move the Flask routes; the
# gate's table is for none. /metrics exists only with --expose-prometheus
# (constants.PROMETHEUS_EXPORTER_ENV_VAR), which the gate's deployment leaves off.
os.environ.pop("_MLFLOW_STATIC_PREFIX", None)
os.environ.pop("prometheus_multiproc_dir", None)

import mlflow  # noqa: E402
from mlflow.server import app as flask_app  # noqa: E402
from mlflow.server.fastapi_app import create_fastapi_app  # noqa: E402

SKIP_METHODS = {"HEAD", "OPTIONS"}


def flask_rule(rule: str) -> str:
    # <path:artifact_path> -> {artifact_path:path}; <model_id> -> {model_id}
    def repl(m):
        conv, name = m.group(1), m.group(2)
        if conv == "path":
            return "{" + name + ":path}"
        return "{" + name + "}"

    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", repl, rule)


def fastapi_routes(candidates):
    """Yield (method, path) for every route, whatever FastAPI's version.

    Up to FastAPI 0.1xx include_router copied APIRoutes (with .path and .methods)
    into app.routes. Newer releases keep an _IncludedRouter per include_router
    call whose effective_candidates() yield route contexts carrying the full
    path (prefix included) or nested _IncludedRouters. The Flask mount at "/"
    (a Mount, no methods) is skipped: its routes are read from url_map.
    """
    for route in candidates:
        effective = getattr(route, "effective_candidates", None)
        if callable(effective):
            yield from fastapi_routes(effective())
            continue
        methods = getattr(route, "methods", None)
        path = getattr(route, "path", None)
        if not methods or not path:
            continue
        for method in methods:
            yield method, path


def proto_endpoints():
    from mlflow.protos import databricks_pb2
    from mlflow.protos.mlflow_artifacts_pb2 import MlflowArtifactsService
    from mlflow.protos.model_registry_pb2 import ModelRegistryService
    from mlflow.protos.service_pb2 import MlflowService
    from mlflow.protos.webhooks_pb2 import WebhookService
    from mlflow.server.handlers import _get_paths

    out = []
    for service in (MlflowService, ModelRegistryService, MlflowArtifactsService, WebhookService):
        for method in service.DESCRIPTOR.methods:
            request = service().GetRequestClass(method)
            fields = request.DESCRIPTOR.fields
            endpoints = method.GetOptions().Extensions[databricks_pb2.rpc].endpoints
            for endpoint in endpoints:
                for path in _get_paths(endpoint.path, version=endpoint.since.major):
                    out.append({
                        "method": endpoint.method,
                        "path": flask_rule(path),
                        "message": request.DESCRIPTOR.full_name,
                        "fields": sorted(f.name for f in fields),
                        "repeated": sorted(f.name for f in fields if is_repeated(f)),
                    })
    return sorted(out, key=lambda e: (e["path"], e["method"]))


def is_repeated(field) -> bool:
    try:
        return field.is_repeated
    except AttributeError:  # older protobuf
        return field.label == field.LABEL_REPEATED


def main() -> None:
    routes = set()
    for rule in flask_app.url_map.iter_rules():
        for method in rule.methods or ():
            if method in SKIP_METHODS:
                continue
            routes.add((method, flask_rule(rule.rule), "flask"))

    fastapi_app = create_fastapi_app(flask_app)
    for method, path in fastapi_routes(fastapi_app.routes):
        if method not in SKIP_METHODS:
            routes.add((method, path, "fastapi"))

    out = {
        "mlflow_version": mlflow.__version__,
        "proto": proto_endpoints(),
        "routes": [
            {"method": m, "path": p, "source": s} for (m, p, s) in sorted(routes)
        ],
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
