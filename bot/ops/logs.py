"""One log format option for every process: KEFU_LOG_FORMAT=json writes one JSON object a
line, {"time", "level", "logger", "message", "conversation_id"?, "exception"?}; the default
(`text`) leaves each process's usual format alone.

Rasa, rasa_sdk (coloredlogs) and Sanic each install their own handlers, at different
moments of their start, so `apply()` gives every handler that exists the JSON formatter;
each entry point calls it once its framework has configured logging (and again as the
server starts: Sanic adds handlers late). Lines written outside Python's logging (print,
TensorFlow's native messages at import) stay as they are.

Phone numbers: bot.logmask masks every record when it is created; the formatter masks the
message again (cheap, and right even in a process that forgot `logmask.install()`) and the
conversation id, which may be `sms:+86…`.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

from bot.logmask import mask_text
from bot.ops import context

JSON = "json"


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON, phones masked."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, timezone.utc)
        line: dict[str, Any] = {
            "time": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_text(record.getMessage()),
        }
        conversation = context.current()
        if conversation:
            line["conversation_id"] = mask_text(conversation)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = mask_text(record.exc_text)
        if record.stack_info:
            line["stack"] = mask_text(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _handlers() -> list[logging.Handler]:
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    return [handler for logger in loggers for handler in logger.handlers]


def apply(log_format: str) -> None:
    """With `json`, every handler of the process writes JSON from now on (a root handler
    on stderr is added if there is none). Safe to call again."""
    if log_format != JSON:
        return
    logging.captureWarnings(True)  # Python's warnings (deprecations at import) as records
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    formatter = JsonFormatter()
    for handler in _handlers():
        if not isinstance(handler.formatter, JsonFormatter):
            handler.setFormatter(formatter)
