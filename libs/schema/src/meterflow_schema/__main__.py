"""``python -m meterflow_schema [--dsn ...] [--dir ...]``: apply the migrations (see migrate.py)."""

import sys

from meterflow_schema.migrate import main

sys.exit(main())
