"""mlflow-gate's Python login: log in once on a training machine, and MLflow renews its token.

* ``mlflow-gate-login`` logs in to the gate named by MLFLOW_TRACKING_URI (device flow, or the
  browser with a loopback redirect) and caches the tokens in the user's config folder.
* ``MLFLOW_TRACKING_AUTH=mlflow-gate`` makes the stock MLflow client send that login's access
  token, refreshed shortly before it expires, safely across threads and processes.
* ``MLFLOW_GATE_CLIENT_ID`` and ``MLFLOW_GATE_CLIENT_SECRET`` switch to a service client's
  client credentials instead.
"""

from .auth import GateAuth
from .errors import MlflowGateError

__version__ = "0.1.0"
__all__ = ["GateAuth", "MlflowGateError", "__version__"]
