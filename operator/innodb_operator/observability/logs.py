"""Structured logs: JSON lines by default, a readable console format on request.

Contract:
  * :func:`configure` is called once by the entry point; libraries only call
    ``structlog.get_logger()``.
  * Inside :func:`reconcile_context` every line carries ``key`` (the object key) and
    ``reconcile_id`` (one id per pass), through context variables, so concurrent
    workers never mix them up.
  * Secrets are never logged: values of keys that look secret (password, token,
    secret, key material) are replaced by ``"[redacted]"`` at any depth, and
    Kubernetes Secret ``data``/``stringData`` maps are redacted wholesale.
  * Standard-library ``logging`` (our ``cache/`` and ``mysql/`` modules, and dependencies)
    goes through the same processors, at the same level, to the same stream: the same
    JSON lines, with ``logger`` naming the stdlib logger, ``extra={...}`` fields included
    (and redacted), and ``name=value`` pairs with a secret-looking name masked in the text.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, Literal, TextIO

import structlog

LogFormat = Literal["json", "console"]

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(r"pass(word|wd)?|secret|token|authorization|private[_-]?key|credential", re.I)
_SECRET_MAPS = {"data", "stringData"}
# ``password=x``, ``token: x``, ``admin_password='x y'`` in free text from stdlib loggers.
_SECRET_PAIR = re.compile(
    r"""(\b[\w.-]*(?:pass(?:word|wd)|secret|token|credential)[\w.-]*)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;)]+)""",
    re.I)


def redact(value: Any, *, _in_secret: bool = False) -> Any:
    """A copy of ``value`` with secret-looking entries replaced by ``[redacted]``."""
    if isinstance(value, Mapping):
        is_secret_object = value.get("kind") == "Secret"
        out: dict[Any, Any] = {}
        for k, v in value.items():
            if isinstance(k, str) and (_SECRET_KEY.search(k) or (is_secret_object and k in _SECRET_MAPS)):
                out[k] = REDACTED
            else:
                out[k] = redact(v)
        return out
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


def _redact_processor(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for k in list(event_dict):
        if k == "event":
            continue
        if _SECRET_KEY.search(k):
            event_dict[k] = REDACTED
        else:
            event_dict[k] = redact(event_dict[k])
    return event_dict


def _mask_text_processor(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Mask ``secret-name=value`` pairs in a stdlib record's formatted message."""
    event = event_dict.get("event")
    if isinstance(event, str):
        event_dict["event"] = _SECRET_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", event)
    return event_dict


def configure(fmt: LogFormat = "json", level: str = "info", *, stream: TextIO | None = None) -> None:
    """Route structlog and the stdlib ``logging`` (ours and our dependencies') to ``stream`` (stderr)."""
    out = stream or sys.stderr
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_processor,
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder(), _mask_text_processor,
                           *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    ))
    logging.basicConfig(level=numeric, handlers=[handler], force=True)


def new_reconcile_id() -> str:
    return secrets.token_hex(4)


@contextlib.contextmanager
def reconcile_context(controller: str, key: str) -> Iterator[str]:
    """Bind ``controller``, ``key`` and a fresh ``reconcile_id`` to every log line within."""
    reconcile_id = new_reconcile_id()
    with structlog.contextvars.bound_contextvars(controller=controller, key=key, reconcile_id=reconcile_id):
        yield reconcile_id
