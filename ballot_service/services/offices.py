"""Offices: the public code a poster's QR points at."""

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..domain.office_codes import new_office_code, normalize_office_code
from ..extensions import db
from ..models import Office


def regenerate_code(code: str) -> Office:
    """A new random code for the office; old posters (and their QR) stop working."""
    office = db.session.scalar(select(Office).where(Office.code == normalize_office_code(code)))
    if office is None:
        raise ValueError(f"没有编码为“{code}”的科室")
    for _ in range(5):  # the unique constraint decides; a clash is astronomically rare
        try:
            with db.session.begin_nested():
                office.code = new_office_code({office.code})
        except IntegrityError:
            continue
        return office  # the caller commits
    raise ValueError("生成新编码失败，请重试")
