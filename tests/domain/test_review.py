"""The coordinator's decisions on consequences, without an app."""

import pytest

from ballot_service.domain.review import Decision, ReviewRefused, decide, undecided


def test_confirming_needs_no_reason_striking_needs_one():
    assert decide("confirmed", "", False, False) == (Decision.CONFIRMED, "")
    assert decide("struck", "  经核实  系误评 ", False, False) == (Decision.STRUCK, "经核实 系误评")
    for reason in ("", "不同意", "   "):
        with pytest.raises(ReviewRefused, match="撤销须填写审核意见"):
            decide("struck", reason, False, False)


def test_a_low_sample_consequence_is_confirmed_only_with_an_acknowledgement():
    with pytest.raises(ReviewRefused, match="已知样本不足，仍予确认"):
        decide("confirmed", "同意", True, False)
    assert decide("confirmed", "同意", True, True)[0] is Decision.CONFIRMED
    assert decide("struck", "样本太少，不予运用", True, False)[0] is Decision.STRUCK  # striking needs none


@pytest.mark.parametrize("decision", ["pending", "maybe", ""])
def test_only_confirm_or_strike(decision):
    with pytest.raises(ReviewRefused, match="只能是"):
        decide(decision, "理由充分的意见", False, False)


def test_reasons_have_a_limit_and_pending_ones_are_counted():
    with pytest.raises(ReviewRefused, match="不能超过500字"):
        decide("struck", "理" * 501, False, False)
    assert undecided(["pending", "confirmed", "pending", "struck"]) == 2 and undecided([]) == 0
