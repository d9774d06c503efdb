"""The request annotation and the kubectl plugin's side of it (pure parts)."""

from __future__ import annotations

import json

import pytest

from innodb_api.requests import Request, RequestAction, RequestError, parse_request, text_id
from innodb_operator import plugin


def test_a_request_round_trips_through_its_annotation() -> None:
    request = Request("r-1", RequestAction.FORCE_QUORUM, "mycluster-0", accept_data_loss=True)
    assert parse_request(request.annotation()) == request
    assert json.loads(request.annotation())["acceptDataLoss"] is True


@pytest.mark.parametrize(("text", "says"), [
    ("[1]", "must be a JSON object"),
    ('{"action": "switchover", "member": "c-1"}', '"id" must be a non-empty string'),
    ('{"id": "a", "action": "switchover"}', '"member" must name a server pod'),
    ('{"id": "a", "action": "reboot", "member": "c-1", "acceptDataLoss": "yes"}', "must be true or false"),
])
def test_a_malformed_annotation_says_what_to_fix(text: str, says: str) -> None:
    with pytest.raises(RequestError, match=says):
        parse_request(text)


def test_an_annotation_without_an_id_is_answered_once_per_distinct_text() -> None:
    assert text_id("x") == text_id("x") != text_id("y")


def test_the_plugin_reads_only_the_answer_to_its_own_request() -> None:
    obj = {"status": {"cluster": {"request": {"id": "old", "outcome": "Done"}}}}
    assert plugin.answer_for(obj, "new") is None
    assert plugin.answer_for(obj, "old") == {"id": "old", "outcome": "Done"}
    assert plugin.answer_for({}, "new") is None


def test_the_plugin_asks_for_a_member_and_only_data_loss_requests_take_the_acceptance_flag() -> None:
    args = plugin._parser().parse_args(["force-quorum", "mycluster", "--to", "mycluster-0", "-n", "ns",
                                        "--accept-data-loss"])
    assert (args.action, args.cluster, args.member, args.namespace, args.accept_data_loss) == (
        "force-quorum", "mycluster", "mycluster-0", "ns", True)
    with pytest.raises(SystemExit):
        plugin._parser().parse_args(["switchover", "mycluster", "--to", "mycluster-1", "--accept-data-loss"])
    with pytest.raises(SystemExit):
        plugin._parser().parse_args(["switchover", "mycluster"])
