"""The site access policy: a signed document, compiled to indexes, and a pure decision.

Load with :func:`load_signed` (or :func:`parse_document` for an unsigned
check), compile once with :func:`compile_policy`, then call :func:`decide`
per presentation.
"""

from gateway.node.policy.calendar import HolidayCalendar, Schedule, Window
from gateway.node.policy.compiled import CompiledPolicy, compile_policy
from gateway.node.policy.document import (
    Direction,
    DutyKind,
    Operator,
    PolicyDocument,
    Posture,
    Staleness,
)
from gateway.node.policy.engine import AccessRequest, GateState, PolicyDecision, decide
from gateway.node.policy.lint import policy_warnings
from gateway.node.policy.signed import (
    InstalledPolicy,
    LoadedPolicy,
    PolicyError,
    load_signed,
    load_signed_file,
    parse_document,
    sign_document,
)

__all__ = [
    "AccessRequest",
    "CompiledPolicy",
    "Direction",
    "DutyKind",
    "GateState",
    "HolidayCalendar",
    "InstalledPolicy",
    "LoadedPolicy",
    "Operator",
    "PolicyDecision",
    "PolicyDocument",
    "PolicyError",
    "Posture",
    "Schedule",
    "Staleness",
    "Window",
    "compile_policy",
    "decide",
    "load_signed",
    "load_signed_file",
    "parse_document",
    "policy_warnings",
    "sign_document",
]
