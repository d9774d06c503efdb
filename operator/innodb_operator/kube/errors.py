"""The operator's own Kubernetes error tree; the client's exceptions never leak past ``kube/``.

::

    KubeError                      any failed request; .status (HTTP code, 0 if none), .reason,
                                   .server_message (the API server's own words, without our prefix)
    ├── ClientError                4xx: the request itself was refused
    │   ├── NotFound               404
    │   ├── Conflict               409 (stale resourceVersion or apply conflict)
    │   ├── Gone                   410 (resourceVersion too old: relist)
    │   ├── Forbidden              403
    │   ├── Invalid                422 (the server's own field errors in .message; the same
    │   │                          without the rejected values in .field_errors)
    │   └── TooManyRequests        429 (.retry_after seconds, when the server said)
    └── TemporaryError             worth retrying with backoff
        ├── ServerError            5xx
        └── TransportError         no response: connection refused/reset, timeout

Callers decide the retry from the type: ``TemporaryError`` and ``TooManyRequests`` back
off and retry; ``Conflict`` re-reads and retries; the rest are bugs or bad input.
"""

from __future__ import annotations

import re


class KubeError(Exception):
    """A Kubernetes API request failed."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "", server_message: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.server_message = server_message or message


class ClientError(KubeError):
    """The server refused the request (4xx)."""


class NotFound(ClientError):
    """404: the object (or its kind) does not exist."""


class Conflict(ClientError):
    """409: optimistic-concurrency or field-manager conflict."""


class Gone(ClientError):
    """410: the requested resourceVersion is no longer available; relist."""


class Forbidden(ClientError):
    """403: RBAC denies the request."""


class Invalid(ClientError):
    """422: the object failed validation; ``message`` holds the server's field errors.

    ``field_errors`` is what may be shown to people (status, Events): each field and what is
    wrong with it, with the rejected value left out (a value may be something the user did not
    mean to publish); from the whole message, scrubbed of quoted and plain values, when the
    server sent no field causes.
    """

    def __init__(self, message: str, *, status: int = 422, reason: str = "", server_message: str = "",
                 field_errors: str = "") -> None:
        super().__init__(message, status=status, reason=reason, server_message=server_message)
        self.field_errors = field_errors or scrub_values(self.server_message)


class TooManyRequests(ClientError):
    """429: throttled by API priority and fairness."""

    def __init__(self, message: str, *, status: int = 429, reason: str = "", retry_after: float = 1.0,
                 server_message: str = "") -> None:
        super().__init__(message, status=status, reason=reason, server_message=server_message)
        self.retry_after = retry_after


class TemporaryError(KubeError):
    """A failure that may go away on retry."""


class ServerError(TemporaryError):
    """5xx from the API server."""


class TransportError(TemporaryError):
    """No HTTP response at all (connection refused or reset, timeout)."""


_BY_STATUS: dict[int, type[KubeError]] = {
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
}


_VALUE_ERRORS = ("Invalid value", "Unsupported value", "Duplicate value", "Not found")
"""Field error types whose text carries the rejected value (apimachinery's field.Error)."""


def _value_end(text: str) -> int | None:
    """Where the printed value at the start of ``text`` ends: the index of the ``": "`` after it
    (outside quotes and brackets), or None when the value runs to the end."""
    depth, i, quoted = 0, 0, False
    while i < len(text):
        char = text[i]
        if quoted:
            if char == "\\":
                i += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char in "{[(":
            depth += 1
        elif char in "}])":
            depth -= 1
        elif depth <= 0 and text.startswith(": ", i):
            return i
        i += 1
    return None


def without_value(message: str) -> str:
    """One field error's text (``Invalid value: "x": must be ...``) without the value."""
    for kind in _VALUE_ERRORS:
        prefix = f"{kind}: "
        if message.startswith(prefix):
            rest = message[len(prefix):]
            end = _value_end(rest)
            return kind if end is None else f"{kind}: {rest[end + 2:]}"
    return message


_QUOTED_VALUE = re.compile(
    r"\b(" + "|".join(_VALUE_ERRORS) + r')(?:: "(?:[^"\\]|\\.)*"|: [-+0-9.eE]+\b|: (?:true|false|null)\b)')


def scrub_values(message: str) -> str:
    """A whole 422 message without the quoted, numeric or boolean values its field errors carry
    (for a response without ``details.causes``)."""
    return _QUOTED_VALUE.sub(r"\1", message)


def field_errors(causes: list[dict[str, object]]) -> str:
    """A 422's ``details.causes`` as ``field: error`` sentences, values left out."""
    parts = []
    for cause in causes:
        text = without_value(str(cause.get("message") or cause.get("reason") or ""))
        field = str(cause.get("field") or "")
        parts.append(f"{field}: {text}" if field else text)
    return "; ".join(p for p in parts if p)


def from_status(status: int, message: str, reason: str = "", retry_after: float | None = None,
                server_message: str = "", causes: list[dict[str, object]] | None = None) -> KubeError:
    """Map an HTTP status (or a watch ``ERROR`` Status object's code) to the tree above."""
    if status == 422:
        return Invalid(message, reason=reason, server_message=server_message, field_errors=field_errors(causes or []))
    if status == 429:
        return TooManyRequests(message, reason=reason, retry_after=retry_after or 1.0, server_message=server_message)
    kind: type[KubeError] = _BY_STATUS.get(status) or (
        ClientError if 400 <= status < 500 else ServerError if status >= 500 else TransportError)
    return kind(message, status=status, reason=reason, server_message=server_message)


def is_temporary(error: BaseException) -> bool:
    """True when backing off and retrying the same request may succeed."""
    return isinstance(error, (TemporaryError, TooManyRequests, Conflict))
