"""One-shot interventions a person asks of a cluster, carried by an annotation on the InnoDBCluster.

The annotation ``mysql.innodb-operator.dev/request`` holds one JSON object::

    {"id": "<unique per request>", "action": "switchover" | "reboot" | "force-quorum",
     "member": "<pod name, e.g. mycluster-1>", "acceptDataLoss": false}

The operator answers each ``id`` once, in ``status.cluster.request`` (``id``, ``action``,
``member``, ``outcome`` Done or Refused, ``message``, ``time``) and with an Event; a request
whose ``id`` is already answered is not acted on again. ``kubectl innodb`` writes the
annotation and waits for the answer. An annotation that does not parse is answered Refused
with what to fix (:class:`RequestError`'s message).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum

from innodb_api import GROUP

REQUEST_ANNOTATION = f"{GROUP}/request"
_KEYS = {"id", "action", "member", "acceptDataLoss"}


class RequestAction(StrEnum):
    SWITCHOVER = "switchover"
    REBOOT = "reboot"
    FORCE_QUORUM = "force-quorum"


class RequestError(ValueError):
    """The annotation is not a request; the message says what to fix."""


@dataclass(frozen=True)
class Request:
    id: str
    action: RequestAction
    member: str
    accept_data_loss: bool = False

    def annotation(self) -> str:
        """The annotation's value for this request."""
        return json.dumps({"id": self.id, "action": self.action.value, "member": self.member,
                           "acceptDataLoss": self.accept_data_loss}, sort_keys=True)


def text_id(text: str) -> str:
    """An id for an annotation that carries none (or does not parse): one answer per distinct text."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_request(text: str) -> Request:
    """The request in an annotation's value; :class:`RequestError` says what is wrong."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestError(f"annotation {REQUEST_ANNOTATION} is not JSON ({exc.msg}); "
                           'write {"id": ..., "action": ..., "member": ...} or use kubectl innodb') from None
    if not isinstance(body, dict):
        raise RequestError(f"annotation {REQUEST_ANNOTATION} must be a JSON object")
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise RequestError(f"annotation {REQUEST_ANNOTATION}: unknown keys {', '.join(unknown)} "
                           f"(known: {', '.join(sorted(_KEYS))})")
    request_id = body.get("id")
    if not isinstance(request_id, str) or not request_id:
        raise RequestError(f"annotation {REQUEST_ANNOTATION}: \"id\" must be a non-empty string, unique per request")
    action = body.get("action")
    if action not in {a.value for a in RequestAction}:
        raise RequestError(f"annotation {REQUEST_ANNOTATION}: \"action\" must be one of "
                           f"{', '.join(a.value for a in RequestAction)}, not {action!r}")
    member = body.get("member")
    if not isinstance(member, str) or not member:
        raise RequestError(f"annotation {REQUEST_ANNOTATION}: \"member\" must name a server pod, "
                           "e.g. mycluster-1")
    accept = body.get("acceptDataLoss", False)
    if not isinstance(accept, bool):
        raise RequestError(f"annotation {REQUEST_ANNOTATION}: \"acceptDataLoss\" must be true or false")
    return Request(id=request_id, action=RequestAction(action), member=member, accept_data_loss=accept)
