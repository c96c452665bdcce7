"""WSGI entry point: `gunicorn wsgi:app`."""

import sys

from casemgr import check_before_serving, create_app
from casemgr.config import ConfigError

try:
    app = create_app()
    check_before_serving(app)
except ConfigError as exc:
    sys.stderr.write(f"casemgr: configuration error: {exc}\n")
    raise SystemExit(2) from None
