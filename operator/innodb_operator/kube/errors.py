"""The operator's own Kubernetes error tree; the client's exceptions never leak past ``kube/``.

::

    KubeError                      any failed request; .status (HTTP code, 0 if none), .reason,
                                   .server_message (the API server's own words, without our prefix)
    ├── ClientError                4xx: the request itself was refused
    │   ├── NotFound               404
    │   ├── Conflict               409 (stale resourceVersion or apply conflict)
    │   ├── Gone                   410 (resourceVersion too old: relist)
    │   ├── Forbidden              403
    │   ├── Invalid                422 (the server's own field errors in .message)
    │   └── TooManyRequests        429 (.retry_after seconds, when the server said)
    └── TemporaryError             worth retrying with backoff
        ├── ServerError            5xx
        └── TransportError         no response: connection refused/reset, timeout

Callers decide the retry from the type: ``TemporaryError`` and ``TooManyRequests`` back
off and retry; ``Conflict`` re-reads and retries; the rest are bugs or bad input.
"""

from __future__ import annotations


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
    """422: the object failed validation; ``message`` holds the server's field errors."""


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
    422: Invalid,
}


def from_status(status: int, message: str, reason: str = "", retry_after: float | None = None,
                server_message: str = "") -> KubeError:
    """Map an HTTP status (or a watch ``ERROR`` Status object's code) to the tree above."""
    if status == 429:
        return TooManyRequests(message, reason=reason, retry_after=retry_after or 1.0, server_message=server_message)
    kind: type[KubeError] = _BY_STATUS.get(status) or (
        ClientError if 400 <= status < 500 else ServerError if status >= 500 else TransportError)
    return kind(message, status=status, reason=reason, server_message=server_message)


def is_temporary(error: BaseException) -> bool:
    """True when backing off and retrying the same request may succeed."""
    return isinstance(error, (TemporaryError, TooManyRequests, Conflict))
