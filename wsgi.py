"""WSGI entry point: `gunicorn wsgi:app`."""

import sys

from casemgr import create_app
from casemgr.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    sys.stderr.write(f"casemgr: configuration error: {exc}\n")
    raise SystemExit(2) from None
