"""Structured logs: one JSON object per line (``ts``, ``level``, ``event`` and event fields)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, TextIO


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"ts": round(record.created, 6), "level": record.levelname.lower(),
                                 "logger": record.name, "event": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry, default=str, sort_keys=False)


def get_logger(name: str, *, stream: TextIO | None = None, path: str | Path | None = None,
               level: int = logging.INFO) -> logging.Logger:
    """A logger writing JSON lines to ``stream`` (default stderr) and/or the file ``path``."""
    logger = logging.getLogger(name)
    logger.setLevel(level)
    logger.propagate = False
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    handlers: list[logging.Handler] = []
    if path is not None:  # private (0600): logs name clients and sessions
        from .files import create_private

        handlers.append(logging.FileHandler(create_private(path), encoding="utf-8"))
    if stream is not None or path is None:
        handlers.append(logging.StreamHandler(stream or sys.stderr))
    for h in handlers:
        h.setFormatter(JsonFormatter())
        logger.addHandler(h)
    return logger


def log(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``event`` with ``fields`` as JSON keys."""
    logger.log(level, event, extra={"fields": fields})
