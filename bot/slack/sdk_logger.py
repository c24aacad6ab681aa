"""A logger for slack_sdk's Web API clients that does not format what nobody will read.

slack_sdk writes a debug line for every request and response, the whole payload included (a modal is several
kilobytes), whenever its logger's *own* level is NOTSET or DEBUG, whatever logging's configuration would do
with the line. Its module loggers are NOTSET, so each call formatted a large dict for nothing: about a third
of the client's CPU per `views.open`. This logger carries the level logging would apply anyway.
"""

from __future__ import annotations

import logging

NAME = "slack_sdk.web.lisbot"


def api_logger() -> logging.Logger:
    """Call after logging is configured (as `lisbot run` does); DEBUG configured means debug lines as before."""
    logger = logging.getLogger(NAME)
    logger.setLevel(logger.parent.getEffectiveLevel() if logger.parent else logging.WARNING)
    return logger
