"""MLflow's request auth provider ``mlflow-gate`` (entry point group mlflow.request_auth_provider).

With ``MLFLOW_TRACKING_AUTH=mlflow-gate`` the stock MLflow client asks this provider for a
requests auth object before every request (tracking calls, artifact uploads, the async logging
and trace export threads alike); :class:`~mlflow_gate.auth.GateAuth` refreshes the token when it
is due. MLflow finds the provider through the entry point; nobody needs to import this package.
"""

from __future__ import annotations

from .auth import shared_auth

try:  # MLflow's interface when MLflow is installed; the login commands do not need it.
    from mlflow.tracking.request_auth.abstract_request_auth_provider import RequestAuthProvider as _Base
except ImportError:  # pragma: no cover - the package also works without MLflow
    _Base = object


class GateAuthProvider(_Base):
    """MLflow request auth provider named ``mlflow-gate``."""

    def get_name(self) -> str:
        return "mlflow-gate"

    def get_auth(self):
        return shared_auth()
