"""A round's states and the moves between them: the one rule the CLI, admin, API and cron share.

    draft ──open──▶ open ──close──▶ closed ──tally──▶ tallied ──publish──▶ published
      │ edit                                            │ tally (re-tally before publishing)
      └──cancel──▶ cancelled

Repeating a move that is already made (opening an open round, closing a closed one,
publishing a published one) is allowed and changes nothing, so a retried command is harmless.
"""

from enum import StrEnum


class RoundStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"
    TALLIED = "tallied"
    PUBLISHED = "published"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]


STATUS_LABELS = {
    RoundStatus.DRAFT: "草稿", RoundStatus.OPEN: "进行中", RoundStatus.CLOSED: "已结束",
    RoundStatus.TALLIED: "已统计", RoundStatus.PUBLISHED: "已发布", RoundStatus.CANCELLED: "已取消",
}


class Move(StrEnum):
    EDIT = "edit"
    OPEN = "open"
    CLOSE = "close"
    TALLY = "tally"
    PUBLISH = "publish"
    CANCEL = "cancel"


S, M = RoundStatus, Move
MOVES: dict[tuple[RoundStatus, Move], RoundStatus] = {
    (S.DRAFT, M.EDIT): S.DRAFT,
    (S.DRAFT, M.OPEN): S.OPEN,
    (S.OPEN, M.OPEN): S.OPEN,
    (S.DRAFT, M.CANCEL): S.CANCELLED,
    (S.OPEN, M.CLOSE): S.CLOSED,
    (S.CLOSED, M.CLOSE): S.CLOSED,
    (S.TALLIED, M.CLOSE): S.TALLIED,
    (S.PUBLISHED, M.CLOSE): S.PUBLISHED,
    (S.CLOSED, M.TALLY): S.TALLIED,
    (S.TALLIED, M.TALLY): S.TALLIED,
    (S.TALLIED, M.PUBLISH): S.PUBLISHED,
    (S.PUBLISHED, M.PUBLISH): S.PUBLISHED,
}

REFUSALS = {
    M.EDIT: "只有草稿状态的评价轮次可以修改",
    M.OPEN: "只有草稿状态的评价轮次可以开启",
    M.CLOSE: "该轮次尚未开启",
    M.TALLY: "只有已结束、尚未发布的评价轮次可以统计",
    M.PUBLISH: "只有已统计的评价轮次可以发布",
    M.CANCEL: "只有草稿状态的评价轮次可以取消；已开启的轮次不能删除或取消",
}
REFUSED_WHEN = {
    (S.CANCELLED, M.OPEN): "该轮次已取消，不能开启",
    (S.OPEN, M.TALLY): "评价仍在进行，请先结束本轮",
    (S.PUBLISHED, M.TALLY): "结果已发布，不能重新统计",
}

ACCEPTS_BALLOTS = (S.OPEN,)
UNTALLIED = (S.OPEN, S.CLOSED)  # ballots exist, sealed
REVIEWABLE = (S.TALLIED, S.PUBLISHED)  # results exist


class MoveRefused(ValueError):
    """A move this state does not allow; the message is for people."""


def after(status: str, move: Move) -> RoundStatus:
    """The state `move` leads to from `status`, or MoveRefused saying why not."""
    status = RoundStatus(status)
    try:
        return MOVES[status, move]
    except KeyError:
        raise MoveRefused(REFUSED_WHEN.get((status, move), REFUSALS[move])) from None


def changes(status: str, move: Move) -> bool:
    """Whether the move does anything from here (False: already made, nothing to do)."""
    return after(status, move) != status or move in (M.EDIT, M.TALLY)
