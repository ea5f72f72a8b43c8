"""Short-lived, per-process cache of rendered office pages and their ballot snapshots.

The office page is the hot path (every scan of a poster). Its content changes rarely (the
roster is frozen for a round), so each process renders an office's page variants once per
`PAGE_CACHE_SECONDS` and then only adds the voter's signed form token. Nothing depends on the
cache for correctness: a page older than the cache time at most shows disclosure edits late,
or the form of a round closed early by hand (its ballots are then refused by the database).
0 disables it.
"""

import gzip
import logging
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field

from flask import current_app, render_template

from ..domain.ballots import unrated
from ..domain.office_codes import normalize_office_code
from ..services import ballot_box, disclosure, keys, results
from ..services.ballot_box import BallotSnapshot, OfficeBallot

TOKEN_PLACEHOLDER = "__BALLOT_TOKEN__"
RATINGS_PLACEHOLDER = "__BALLOT_RATINGS__"
RECEIPT_PLACEHOLDER = "__BALLOT_RECEIPT__"  # the thank-you page's receipt block
CODE_PLACEHOLDER = "__RECEIPT_CODE__"  # the code in that block
log = logging.getLogger(__name__)


# A small window keeps the compressor state cheap to copy (about 10 µs a page).
_WBITS, _MEMLEVEL, _LEVEL = -12, 5, 6
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no mtime, unknown OS


@dataclass
class Vote:
    """The ballot part of the office page, for its template."""

    ballot: OfficeBallot
    token: str | None = None
    voted: bool = False
    unavailable: bool = False
    wechat_required: bool = False
    values: dict[str, list[str]] = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    message: str | None = None
    confirm_rest: bool = False  # ask "其余 N 人将记为“不了解情况”" (the no-JavaScript way)

    @property
    def open_people(self) -> list[int]:
        """The people not yet rated on this form, in roster order."""
        return unrated((e.person.id for e in self.ballot.roster), self.values)


@dataclass(frozen=True)
class Page:
    """A rendered page, plain and gzip-compressed."""

    html: bytes
    gz: bytes

    @classmethod
    def of(cls, html: str) -> "Page":
        data = html.encode()
        return cls(data, gzip.compress(data, _LEVEL, mtime=0))

    def body(self, gzipped: bool, *fills: str) -> bytes:
        return self.gz if gzipped else self.html


class SlotPage:
    """A page with a slot (the voter's form token), or a few in a row (the thank-you page's
    receipt and the ratings it lists), compressed up to the first slot once.

    Per request only what fills the slots and the tail are compressed (from a copy of the
    compressor state), and the gzip CRC continues from the prefix's: the hot path does not
    compress the whole page again for every voter.
    """

    def __init__(self, html: str, *placeholders: str):
        data = html.encode()
        parts = []
        for placeholder in placeholders or (TOKEN_PLACEHOLDER,):
            before, data = data.split(placeholder.encode())
            parts.append(before)
        prefix, self._between, suffix = parts[0], parts[1:], data
        self.prefix, self.suffix = prefix, suffix
        self._compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WBITS, _MEMLEVEL)
        self._head = _GZIP_HEADER + self._compressor.compress(prefix) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        self._crc = zlib.crc32(prefix)

    def body(self, gzipped: bool, *fills: str) -> bytes:
        return self.gz(*fills) if gzipped else self.html(*fills)

    def _tail(self, fills: tuple[str, ...]) -> bytes:
        if not self._between:
            return fills[0].encode() + self.suffix
        return b"".join(part for fill, between in zip(fills, (*self._between, self.suffix), strict=True)
                        for part in (fill.encode(), between))

    def html(self, *fills: str) -> bytes:
        return self.prefix + self._tail(fills)

    def gz(self, *fills: str) -> bytes:
        tail = self._tail(fills)
        compressor = self._compressor.copy()
        size = (len(self.prefix) + len(tail)) & 0xFFFFFFFF
        return (self._head + compressor.compress(tail) + compressor.flush()
                + struct.pack("<II", zlib.crc32(tail, self._crc), size))


@dataclass(frozen=True)
class CachedOffice:
    """An office's page variants: "plain" without a round, else "voted", "wechat" and the form;
    "unavailable" when this host's key store lacks the round's secret; with a round, the
    thank-you page (slots: the receipt block, the ratings) and its receipt block (slot: the
    code), which a thank-you page without a receipt leaves out."""

    code: str
    snapshot: BallotSnapshot | None
    pages: dict[str, Page]
    form: SlotPage | None = None
    thanks: SlotPage | None = None
    receipt: str = ""


_cache: dict[str, tuple[float, CachedOffice]] = {}
_lock = threading.Lock()


def get(raw_code: str) -> CachedOffice | None:
    """The office's rendered variants, from the cache or freshly built (None: no such office)."""
    ttl = current_app.config["PAGE_CACHE_SECONDS"]
    code = normalize_office_code(raw_code)
    now = time.monotonic()
    hit = _cache.get(code)
    if hit and hit[0] > now and (hit[1].snapshot is None or hit[1].snapshot.accepting()):
        return hit[1]
    entry = build(code)
    if entry is not None and ttl > 0:
        with _lock:
            for stale in [c for c, (expires, _) in _cache.items() if expires <= now]:
                del _cache[stale]  # a closed round's secret does not linger in memory
            _cache[code] = (now + ttl, entry)
    return entry


def clear() -> None:
    _cache.clear()


def render_office(page: disclosure.OfficePage, ballot: OfficeBallot, vote: Vote | None,
                  latest: results.OfficeReport | None) -> str:
    """The office page: the ballot first when a round is open, its latest published result, the
    disclosure; between rounds, when the next one opens and where to complain meanwhile."""
    return render_template("public/office.html", page=page, ballot=ballot, vote=vote, latest=latest,
                           supervision=current_app.config["POSTER_SUPERVISION_LINE"])


def build(code: str) -> CachedOffice | None:
    page = disclosure.get_office_page(code)
    if page is None:
        return None
    ballot = ballot_box.office_ballot(page.office)
    latest = results.latest_office_report(page.office)

    def render(vote):
        return render_office(page, ballot, vote, latest)

    try:
        snap = ballot_box.snapshot(page.office, ballot)
    except keys.KeyMissing as exc:
        log.critical("密钥缺失: the office page of round %s takes no ballots here: %s", ballot.round.id, exc)
        return CachedOffice(page.office.code, None, {"unavailable": Page.of(render(Vote(ballot, unavailable=True)))})
    if snap is None:
        return CachedOffice(page.office.code, None, {"plain": Page.of(render(None))})
    pages = {
        "voted": Page.of(render(Vote(ballot, voted=True))),
        "wechat": Page.of(render(Vote(ballot, wechat_required=True))),
    }
    thanks = render_template("public/thanks.html", code=page.office.code, snap=snap,
                             receipt_slot=RECEIPT_PLACEHOLDER, ratings_slot=RATINGS_PLACEHOLDER)
    return CachedOffice(page.office.code, snap, pages, SlotPage(render(Vote(ballot, token=TOKEN_PLACEHOLDER))),
                        SlotPage(thanks, RECEIPT_PLACEHOLDER, RATINGS_PLACEHOLDER),
                        render_template("public/_receipt.html", code=CODE_PLACEHOLDER, round_id=snap.round_id))
