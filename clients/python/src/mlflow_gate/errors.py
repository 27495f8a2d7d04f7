"""The errors of mlflow-gate's Python login: one readable line each that says what to run.

Every error is an :class:`MlflowGateError`; its message starts with ``mlflow-gate:`` and ends with
what the person should do. MLflow shows it inside its own "API request failed" line when it
happens during a call, so the message never relies on a traceback to be understood.
"""

LOGIN_COMMAND = "mlflow-gate-login"


class MlflowGateError(Exception):
    """Base class: something the person has to act on. ``str(err)`` is the whole message."""

    def __init__(self, message: str):
        super().__init__(message if message.startswith("mlflow-gate:") else "mlflow-gate: " + message)


class NotLoggedIn(MlflowGateError):
    """No login cached for the gate a request goes to."""

    def __init__(self, gate: str, others: list[str] | None = None):
        msg = f"not logged in to {gate}"
        if others:
            msg += " (logged in to " + ", ".join(others) + ")"
        super().__init__(f"{msg}: run `{LOGIN_COMMAND}` with MLFLOW_TRACKING_URI={gate}")


class LoginExpired(MlflowGateError):
    """The refresh token is expired, revoked or was lost: only a new login helps."""

    def __init__(self, gate: str, why: str):
        super().__init__(f"your login to {gate} {why}: run `{LOGIN_COMMAND}` to log in again")


class GateUnreachable(MlflowGateError):
    """The gate did not answer (network, DNS, TLS, or it failed); the cached login is kept."""

    def __init__(self, gate: str, why: str):
        super().__init__(f"cannot reach the gate at {gate} ({why}): check MLFLOW_TRACKING_URI and the network, then retry")


class WrongGate(MlflowGateError):
    """The URL is not an mlflow-gate, or the gate there names another origin."""


class InsecureGate(MlflowGateError):
    """Plain http to a host other than this machine."""

    def __init__(self, url: str):
        super().__init__(
            f"refusing to send tokens over plain http to {url}: use https "
            "(plain http is allowed only to 127.0.0.1, ::1 and localhost)"
        )


class ClientCredentialsRefused(MlflowGateError):
    """The gate refused MLFLOW_GATE_CLIENT_ID / MLFLOW_GATE_CLIENT_SECRET."""
