"""Structured JSON logs, one object a line, for the people who watch them.

Library modules log through the standard ``logging`` module; this routes
those records and structlog's own through one JSON renderer on stderr, so
stdout stays free for data (``--json`` output).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import structlog

_SHARED: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(
    level: str = "INFO", *, json_output: bool = True, log_file: Path | None = None
) -> None:
    """JSON lines on stderr, or appended to ``log_file`` (when stderr shows a live display)."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_output
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    handler: logging.Handler = (
        logging.StreamHandler(sys.stderr)
        if log_file is None
        else logging.FileHandler(log_file, encoding="utf-8")
    )
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
