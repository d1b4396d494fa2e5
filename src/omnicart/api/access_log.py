"""The server's access log without query strings.

Look-ups by e-mail, phone or loyalty card sent in a URL (`GET /v1/customers?email=…`)
would otherwise land in every access log line; the path alone says which route ran.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG

# uvicorn's access record: (client address, method, path with query, HTTP version, status).
_ACCESS_ARGS = 5
_PATH = 2


class QueryStringFilter(logging.Filter):
    """Cuts the query string off the path of uvicorn's access log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's path in place; every record is still logged."""
        args = record.args
        if isinstance(args, tuple) and len(args) == _ACCESS_ARGS:
            path = args[_PATH]
            if isinstance(path, str) and "?" in path:
                record.args = (*args[:_PATH], path.split("?", 1)[0], *args[_PATH + 1 :])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's default logging config with the filter on its access logger."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["no_query_string"] = {"()": QueryStringFilter}
    config["loggers"]["uvicorn.access"]["filters"] = ["no_query_string"]
    return config
