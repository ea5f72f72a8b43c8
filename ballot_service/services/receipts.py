"""Published ballot receipts: the codes of a round's counted ballots, and checking one.

The tally's unsealing writes the codes (services.tally, domain.receipts), alone and in code
order; they are public once the round's results are, on a page of their own and as a plain
list in code order. A code found proves its ballot was opened and counted; nothing here, nor
in the table, says which ballot, office or time it came with.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import func, select

from ..domain import receipts as rules
from ..domain.round_states import RoundStatus
from ..extensions import db
from ..models import Receipt, Round


@dataclass(frozen=True)
class Check:
    """What a voter's typed code came to: `malformed` (not a receipt code at all), or `code`
    (the bare code, as read) and whether it is among the counted ones."""

    code: str | None
    counted: bool = False

    @property
    def malformed(self) -> bool:
        return self.code is None

    @property
    def shown(self) -> str | None:
        return None if self.code is None else rules.grouped(self.code)


def published_round(round_id: int) -> Round | None:
    """The round if its results are published (its receipts with them), else None."""
    round_ = db.session.get(Round, round_id)
    return round_ if round_ is not None and round_.status == RoundStatus.PUBLISHED else None


def count(round_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Receipt).where(Receipt.round_id == round_id)) or 0


def check(round_id: int, typed: str | None) -> Check:
    """Whether the code the voter typed is among the round's counted receipts."""
    code = rules.normalize(typed)
    if code is None:
        return Check(None)
    found = db.session.scalar(select(Receipt.code).where(Receipt.round_id == round_id, Receipt.code == code))
    return Check(code, found is not None)


def listing(round_id: int) -> Iterator[str]:
    """Every counted receipt of the round, one grouped code a line, in code order."""
    for code in db.session.scalars(select(Receipt.code).where(Receipt.round_id == round_id)
                                   .order_by(Receipt.code).execution_options(yield_per=5000)):
        yield rules.grouped(code) + "\n"
