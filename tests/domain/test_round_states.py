"""The round's states and moves, without an app."""

import pytest

from ballot_service.domain.round_states import MOVES, Move, MoveRefused, RoundStatus, after, changes

S, M = RoundStatus, Move


def test_the_life_of_a_round():
    status = S.DRAFT
    for move, expected in [(M.EDIT, S.DRAFT), (M.OPEN, S.OPEN), (M.CLOSE, S.CLOSED), (M.TALLY, S.TALLIED),
                           (M.TALLY, S.TALLIED), (M.PUBLISH, S.PUBLISHED)]:
        status = after(status, move)
        assert status is expected
    assert after("draft", M.CANCEL) is S.CANCELLED  # stored strings are read as states


def test_a_move_already_made_changes_nothing_and_is_allowed():
    assert not changes("open", M.OPEN) and not changes("closed", M.CLOSE) and not changes("published", M.PUBLISH)
    assert not changes("tallied", M.CLOSE) and not changes("published", M.CLOSE)
    assert changes("draft", M.OPEN) and changes("tallied", M.TALLY)  # a re-tally does work
    assert changes("draft", M.EDIT)


@pytest.mark.parametrize(("status", "move", "message"), [
    (S.OPEN, M.EDIT, "只有草稿状态的评价轮次可以修改"),
    (S.OPEN, M.CANCEL, "已开启的轮次不能删除或取消"),
    (S.PUBLISHED, M.CANCEL, "已开启的轮次不能删除或取消"),
    (S.CANCELLED, M.OPEN, "该轮次已取消，不能开启"),
    (S.DRAFT, M.CLOSE, "该轮次尚未开启"),
    (S.OPEN, M.TALLY, "评价仍在进行，请先结束本轮"),
    (S.PUBLISHED, M.TALLY, "结果已发布，不能重新统计"),
    (S.CLOSED, M.PUBLISH, "只有已统计的评价轮次可以发布"),
    (S.TALLIED, M.OPEN, "只有草稿状态的评价轮次可以开启"),
])
def test_refusals_say_why(status, move, message):
    with pytest.raises(MoveRefused, match=message):
        after(status, move)


def test_every_state_and_move_has_an_answer():
    for status in S:
        for move in M:
            if (status, move) in MOVES:
                assert after(status, move) in S
            else:
                with pytest.raises(MoveRefused):
                    after(status, move)
    assert {s for s in S if not any(k[0] == s for k in MOVES)} == {S.CANCELLED}  # the only dead end
    assert all(s.label for s in S)
