"""Short-lived, per-process cache of rendered office pages and their ballot snapshots.

The office page is the hot path (every scan of a poster). Its content changes rarely (the
roster is frozen for a round), so each process renders an office's page variants once per
`PAGE_CACHE_SECONDS` and then only adds the voter's one-time token. Nothing depends on the
cache for correctness: closing a round is seen at once through Redis (ballot:closed:<id>),
and a page older than the cache time at most shows disclosure edits late. 0 disables it.
"""

import threading
import time
from dataclasses import dataclass

from flask import current_app, render_template

from ..domain.office_codes import is_valid_office_code, normalize_office_code
from ..services import ballot_box, disclosure
from ..services.ballot_box import BallotSnapshot

TOKEN_PLACEHOLDER = "__BALLOT_TOKEN__"
# Variants of an office page: no ballot, the form, already voted, WeChat required, ballot unavailable.
VARIANTS = ("plain", "form", "voted", "wechat", "unavailable")


@dataclass(frozen=True)
class CachedOffice:
    code: str
    snapshot: BallotSnapshot | None
    pages: dict[str, str]


_cache: dict[str, tuple[float, CachedOffice]] = {}
_lock = threading.Lock()


def get(raw_code: str) -> CachedOffice | None:
    """The office's rendered variants, from the cache or freshly built (None: no such office)."""
    ttl = current_app.config["PAGE_CACHE_SECONDS"]
    code = normalize_office_code(raw_code)
    if not is_valid_office_code(code):
        return None
    now = time.monotonic()
    hit = _cache.get(code)
    if hit and hit[0] > now and (hit[1].snapshot is None or hit[1].snapshot.accepting()):
        return hit[1]
    entry = build(code)
    if entry is not None and ttl > 0:
        with _lock:
            _cache[code] = (now + ttl, entry)
    return entry


def clear() -> None:
    _cache.clear()


def build(code: str) -> CachedOffice | None:
    from .ballot import Vote

    page = disclosure.get_office_page(code)
    if page is None:
        return None
    ballot = ballot_box.office_ballot(page.office)
    snap = ballot_box.snapshot(page.office, ballot)

    def render(vote):
        return render_template("public/office.html", page=page, ballot=ballot, vote=vote)

    if snap is None:
        return CachedOffice(page.office.code, None, {"plain": render(None)})
    pages = {
        "form": render(Vote(ballot, token=TOKEN_PLACEHOLDER)),
        "voted": render(Vote(ballot, voted=True)),
        "wechat": render(Vote(ballot, wechat_required=True)),
        "unavailable": render(Vote(ballot, unavailable=True)),
    }
    return CachedOffice(page.office.code, snap, pages)
