"""The coordinator's review of a tallied round: each consequence the tally derived is confirmed
or struck (with a reason, 审核意见) before the round can be published. Only confirmed ones are
published, go into the circular and count in the performance ledger; struck ones keep their
reason in the audit trail. A consequence resting on a low-sample grade is confirmed only with an
explicit acknowledgement that the sample is small.
"""

from collections.abc import Iterable
from enum import StrEnum

MIN_REASON = 4  # characters: "不同意" alone says nothing
MAX_REASON = 500


class Decision(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    STRUCK = "struck"

    @property
    def label(self) -> str:
        return {"pending": "待审核", "confirmed": "已确认", "struck": "已撤销"}[self]


class ReviewRefused(ValueError):
    """A decision that cannot be taken as given; the message is for people."""


def decide(decision: str, reason: str, low_sample: bool, sample_acknowledged: bool) -> tuple[Decision, str]:
    """Check one decision; returns it with its reason, trimmed."""
    try:
        decision = Decision(decision)
    except ValueError:
        raise ReviewRefused("审核结论只能是“确认”或“撤销”") from None
    reason = " ".join(reason.split())
    if len(reason) > MAX_REASON:
        raise ReviewRefused(f"审核意见不能超过{MAX_REASON}字")
    if decision is Decision.PENDING:
        raise ReviewRefused("审核结论只能是“确认”或“撤销”")
    if decision is Decision.STRUCK and len(reason) < MIN_REASON:
        raise ReviewRefused(f"撤销须填写审核意见（至少{MIN_REASON}个字），说明撤销理由")
    if decision is Decision.CONFIRMED and low_sample and not sample_acknowledged:
        raise ReviewRefused("该项依据的等次有效评价较少（样本不足），确认前请勾选“已知样本不足，仍予确认”")
    return decision, reason


def undecided(decisions: Iterable[str]) -> int:
    """How many consequences are still waiting for a decision."""
    return sum(1 for d in decisions if d == Decision.PENDING)
