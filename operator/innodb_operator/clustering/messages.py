"""Sentences for people about plans and action results (pure): where their wording lives.

Contract: messages are rendered from typed values (:class:`~.plan.Plan`,
:class:`~.actions.ActionResult`) and instance names; no code decides anything on a message
(nor on :attr:`~.state.Diagnosis.explanation`, the state's own sentence). Changing a template
here changes what status and Events say, never what the operator does (a unit test rewords
every template and checks exactly that).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from innodb_operator.clustering.actions import ActionResult, Outcome, Refusal
from innodb_operator.clustering.interventions import Decision, Intervention, Why
from innodb_operator.clustering.plan import Action, Kind, Plan, Reason

Namer = Callable[[int], str]
"""Instance index -> the name people know it by (its pod)."""

PLAN_MESSAGES: dict[Reason, str] = {
    Reason.NO_GROUP: "bootstrapping the group on {target}",
    Reason.MEMBER_MISSING: "{verb} {target} to the group ({how})",
    Reason.SCALE_DOWN: "{scale_down}",
    Reason.MODE_CHANGE: "switching the group to {mode}",
    Reason.HANDOVER: "moving the primary from {subjects} to {target} before {subjects} restarts",
    Reason.COMPLETE_OUTAGE: "complete outage: rebooting the group from {target}, which holds every transaction",
    Reason.FINALIZING: "the cluster is being deleted: {target} leaves the group ({leave_order})",
    Reason.CONVERGED: "nothing to do",
    Reason.FINALIZED: "the cluster is being deleted: no member is in the group any more",
    Reason.WAITING_FOR_PODS: "waiting for {subjects} to start",
    Reason.WAITING_FOR_RECOVERY: "waiting for {subjects} to finish recovering before joining the next member",
    Reason.WAITING_FOR_HEIR: "waiting for an ONLINE member to take over as primary from {subjects}",
    Reason.WAITING_FOR_EXPEL: "waiting for unreachable members to be expelled before {subjects} leaves: "
                              "leaving now would cost the group its majority",
    Reason.WAITING_FOR_MEMBERS: "waiting for {subjects} to be ONLINE",
    Reason.MEMBERS_UNREACHABLE: "the group has quorum, but the operator cannot reach {subjects}",
    Reason.SPLIT_BRAIN: "two groups each claim a majority; fix by hand, the operator will not choose",
    Reason.NO_QUORUM: "no member's view of the group holds a majority; the operator never forces quorum by itself. "
                      "If the missing members are gone for good: kubectl innodb force-quorum {cluster} --to MEMBER "
                      "(a member still ONLINE)",
    Reason.OUTAGE_UNPROVEN: "no reachable instance is in a group, and {subjects} cannot be reached: a partition "
                            "the operator cannot see might still hold quorum, so it does not reboot the group. If "
                            "they are down for good: kubectl innodb reboot {cluster} --to MEMBER",
    Reason.GTIDS_DIVERGED: "complete outage, but the instances' GTID sets diverge (none contains all others); "
                           "the operator does not choose which transactions to lose. To choose: kubectl innodb "
                           "reboot {cluster} --to MEMBER (it says what would be lost)",
    Reason.ERRANT_TRANSACTIONS: "{subjects} has transactions the group does not have (errant); it cannot join "
                                "without losing them. Inspect it, then remove its data to re-clone",
    Reason.FOREIGN_GROUP: "{subjects} belong to another group than this cluster's (status.cluster.groupName): "
                          "their datadirs come from another cluster. To adopt that group, record its name in "
                          "status.cluster.groupName; to start afresh, delete those pods' datadir claims",
}

DONE_MESSAGES: dict[Kind, str] = {
    Kind.BOOTSTRAP: "Bootstrapped the group from {target}",
    Kind.JOIN: "Joined {target} to the group ({how})",
    Kind.LEAVE: "{target} left the group cleanly (start on boot off)",
    Kind.REBOOT: "Rebooted the group from {target}",
    Kind.SET_PRIMARY: "Made {target} the primary",
    Kind.SET_MODE: "Switched the group to {mode}",
    Kind.FORCE_QUORUM: "Forced quorum from {target}: the group runs with the members {target} still reaches",
}

REFUSAL_MESSAGES: dict[Refusal, str] = {
    Refusal.UNREACHABLE: "an instance it needed did not answer",
    Refusal.NOT_ONLINE: "{target} is not ONLINE",
    Refusal.NO_QUORUM: "no member with a majority answered",
    Refusal.RECOVERING: "another member is still recovering",
    Refusal.ERRANT: "{target} has transactions the group does not have (errant)",
    Refusal.IN_GROUP: "an instance is in a group",
    Refusal.CONFIGURED: "an instance was configured for a group before",
    Refusal.NOT_MOST_ADVANCED: "{target} no longer holds every transaction",
    Refusal.IS_PRIMARY: "{target} is the primary; the primary moves first",
    Refusal.WOULD_LOSE_MAJORITY: "the group would lose its majority",
    Refusal.NOT_ALL_ONLINE: "not every member is ONLINE",
    Refusal.STILL_RUNNING: "a member it would leave out still runs Group Replication; stop it first, or "
                           "forcing would make a second group",
    Refusal.STARTING: "{target} is still trying to join its old group by itself",
    Refusal.FAILED: "a statement failed",
}

_VERBS = {Kind.BOOTSTRAP: "bootstrap", Kind.JOIN: "join", Kind.LEAVE: "leave", Kind.REBOOT: "reboot",
          Kind.SET_PRIMARY: "switch the primary", Kind.SET_MODE: "switch the group mode",
          Kind.FORCE_QUORUM: "force quorum from"}


def names(indexes: Iterable[int], name: Namer) -> str:
    listed = [name(i) for i in indexes]
    return ", ".join(listed) or "some instances"


def _how(action: Action | None) -> str:
    return "clone" if action is not None and action.clone else "incremental recovery"


def _mode(action: Action | None) -> str:
    return action.mode.value if action is not None and action.mode is not None else "the spec's mode"


def plan_message(plan: Plan, name: Namer, *, rejoin: bool = False, cluster: str = "CLUSTER") -> str:
    """What the group manager does next, or why it does nothing (``cluster``: its name, for commands)."""
    action = plan.action
    target = name(action.target) if action is not None else ""
    subjects = names(plan.subjects, name)
    if action is not None and action.kind == Kind.SET_PRIMARY:
        scale_down = f"switching the primary to {target} before {subjects} leaves"
    else:
        scale_down = f"{target} is leaving the group (scale-down)"
    leave_order = ("the last member: it holds every transaction" if action is not None and action.forced
                   else "the secondaries first, the primary last")
    return PLAN_MESSAGES[plan.reason].format(
        target=target, subjects=subjects, how=_how(action), mode=_mode(action), scale_down=scale_down,
        verb="rejoining" if rejoin else "joining", cluster=cluster, leave_order=leave_order)


def result_message(result: ActionResult, name: Namer, *, retried: bool = True) -> str:
    """What an executed action did, for an Event or a log line (``retried``: a planned action,
    which the next pass plans again; a person's request is not)."""
    action = result.action
    target = name(action.target)
    if result.outcome == Outcome.DONE:
        return DONE_MESSAGES[action.kind].format(target=target, how=_how(action), mode=_mode(action))
    if result.outcome == Outcome.ALREADY:
        return f"{target}: nothing to {_VERBS[action.kind]}, already done"
    why = REFUSAL_MESSAGES[result.refusal or Refusal.FAILED].format(target=target)
    if result.outcome == Outcome.REFUSED:
        return f"Did not {_VERBS[action.kind]} {target}: {why}"
    then = "the next pass tries again" if retried else "look at the cluster's status, and repeat the request if needed"
    return f"Started to {_VERBS[action.kind]} {target}, then {why}; {then}"


REQUEST_MESSAGES: dict[Why, str] = {
    Why.SWITCHING: "{target} is the primary now",
    Why.REBOOTING: "rebooted the group from {target}{losing}{uncompared}",
    Why.FORCING: "forced quorum from {target}: the group runs with the members it reaches{losing}{uncompared}",
    Why.ALREADY_PRIMARY: "{target} is the primary already",
    Why.HAS_QUORUM: "the group has quorum; nothing to force",
    Why.NO_QUORUM: "the group has no quorum ({state}); a switchover needs one (see force-quorum)",
    Why.MULTI_PRIMARY: "the group runs in multi-primary mode: every member is a primary",
    Why.NOT_ONLINE: "{target} is not ONLINE in the group",
    Why.UNREACHABLE: "the operator cannot reach {target}",
    Why.GROUP_RUNNING: "an instance runs Group Replication: the group is not down, so there is nothing to "
                       "reboot (a group without quorum needs force-quorum)",
    Why.NOT_NEEDED: "the cluster is {state}: this request is for {needed}",
    Why.FOREIGN: "{target} belongs to another group than this cluster's",
    Why.WOULD_LOSE_DATA: "it would lose acknowledged transactions: {losses} (compared with {target}). "
                         "To go ahead anyway, repeat the request accepting data loss{uncompared}",
}

_NEEDED = {Intervention.SWITCHOVER: "a group with quorum", Intervention.REBOOT: "a group that is down (OFFLINE)",
           Intervention.FORCE_QUORUM: "a group without quorum (NO_QUORUM)"}


def request_message(kind: Intervention, target: int, decision: Decision, name: Namer) -> str:
    """What the operator made of a person's request: what was done (once it is), or why not."""
    losses = ", ".join(f"{loss.transactions} only on {name(loss.instance)}" for loss in decision.losses)
    uncompared = (f"; not compared with {names(decision.uncompared, name)} (unreachable or unknown: "
                  "transactions only they hold are lost)" if decision.uncompared else "")
    return REQUEST_MESSAGES[decision.why].format(
        target=name(target), losses=losses, uncompared=uncompared,
        losing=f", losing {losses}" if losses else "",
        state=decision.state.value if decision.state else "unknown", needed=_NEEDED[kind])
