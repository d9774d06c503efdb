"""A person's request on the cluster object, read and answered (pure).

Contract:
  * :func:`pending` reads the annotation ``mysql.innodb-operator.dev/request``
    (:mod:`innodb_api.requests`) and returns nothing when there is none or its id is already
    answered in ``status.cluster.request``; an annotation that does not parse, or names no
    server pod of the cluster, is answered Refused at once (:class:`Pending.refusal`), without
    touching MySQL.
  * :func:`answered` turns a pass's :class:`~innodb_operator.clustering.manager.Answer` into
    the status part and the Event (RequestDone, Normal; RequestRefused, Warning), each naming
    the request, the member and what was done or why not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from innodb_api.requests import REQUEST_ANNOTATION, RequestError, parse_request, text_id
from innodb_operator.builders.status import RequestStatus
from innodb_operator.clustering.interventions import Intervention, Verdict
from innodb_operator.clustering.manager import Answer, Request
from innodb_operator.clustering.messages import Namer, request_message, result_message
from innodb_operator.clustering.seam import Target
from innodb_operator.controllers.groupview import Notice

DONE, REFUSED = "Done", "Refused"


@dataclass(frozen=True)
class Pending:
    """A request to answer: ``request`` for the pass to decide, or ``refusal`` (answered already)."""

    id: str
    action: str
    member: str
    request: Request | None = None
    refusal: RequestStatus | None = None


def pending(obj: Mapping[str, Any], targets: tuple[Target, ...]) -> Pending | None:
    """The unanswered request on the object, if any (see the module contract)."""
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(REQUEST_ANNOTATION)
    if not text:
        return None
    answered_id = (((obj.get("status") or {}).get("cluster") or {}).get("request") or {}).get("id")
    try:
        parsed = parse_request(text)
    except RequestError as exc:
        request_id = text_id(text)
        if request_id == answered_id:
            return None
        return Pending(request_id, "", "", refusal=RequestStatus(request_id, "", "", REFUSED, str(exc)))
    if parsed.id == answered_id:
        return None
    action = parsed.action.value
    index = next((t.index for t in targets if t.label == parsed.member), None)
    if index is None:
        members = ", ".join(t.label for t in targets)
        why = f"{parsed.member} is not a server of this cluster (its members: {members})"
        return Pending(parsed.id, action, parsed.member,
                       refusal=RequestStatus(parsed.id, action, parsed.member, REFUSED, why))
    return Pending(parsed.id, action, parsed.member,
                   request=Request(Intervention(action), index, parsed.accept_data_loss))


def answered(item: Pending, answer: Answer | None, name: Namer) -> tuple[RequestStatus, Notice]:
    """The status part and the Event for the answer to ``item`` (its refusal, or the pass's ``answer``)."""
    if item.refusal is not None or answer is None:
        status = item.refusal or RequestStatus(item.id, item.action, item.member, REFUSED,
                                               "the operator could not look at the group")
    else:
        request, decision, result = answer.request, answer.decision, answer.result
        message = request_message(request.kind, request.target, decision, name)
        if decision.verdict == Verdict.ACT and result is not None and not answer.done:
            message = result_message(result, name, retried=False)
        elif decision.verdict == Verdict.REFUSED:
            message = f"not done: {message}"
        status = RequestStatus(item.id, item.action, item.member, DONE if answer.done else REFUSED, message)
    what = f"{status.action or 'request'} {status.member}".strip()
    text = f"Request {status.id} ({what}): {status.message}"
    if status.outcome == DONE:
        return status, Notice("Normal", "RequestDone", text)
    return status, Notice("Warning", "RequestRefused", text)
