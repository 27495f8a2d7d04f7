"""``python -m mlflow_gate login|logout|status|token``: the same as ``mlflow-gate-login``."""

import sys

from .cli import main

sys.exit(main())
