"""The key store: each round's secrets, in files outside the database and Redis (A2).

A round has two secrets, in two files of `KEY_DIR` named by the round's key id (the only
thing the database records, with the public key):

  <key id>.secret    32 random bytes: the dedup keys, form tokens and claim tags (web + worker)
  <key id>.private   the X25519 private key that opens the round's sealed ballots (worker only)

Web processes need only the first (production may mount the second on worker hosts alone).
The tally destroys both once the ballots are unsealed: what WAL, dead tuples, backups or
Redis files still hold of the round is then useless, even to someone who later gets into the
key store. Back the store up only while a round runs: if it is lost mid-round, the round's
sealed ballots can never be opened (`missing_keys` makes that loud at start-up).
"""

import logging
import os
import re
import secrets

from flask import current_app
from sqlalchemy import select

from ..domain import sealing
from ..domain.round_states import UNTALLIED
from ..extensions import db
from ..models import Round

log = logging.getLogger(__name__)
SECRET_BYTES = 32
_KEY_ID = re.compile(r"[0-9a-f]{32}")


class KeyMissing(RuntimeError):
    """A round's key file is not in the key store (lost, destroyed, or not mounted here)."""


def key_dir() -> str:
    return current_app.config["KEY_DIR"]


def _path(key_id: str, kind: str) -> str:
    if not _KEY_ID.fullmatch(key_id or ""):
        raise KeyMissing("invalid key id")
    return os.path.join(key_dir(), f"{key_id}.{kind}")


def _write(path: str, data: bytes) -> None:
    """Written whole or not at all, readable by the service's user only."""
    temporary = f"{path}.{secrets.token_hex(4)}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)


def create_round_keys() -> tuple[str, bytes]:
    """New secrets for a round: (key id, public key). The files exist before the database
    names them, so a committed round always has its keys (or lost them later)."""
    os.makedirs(key_dir(), mode=0o700, exist_ok=True)
    key_id = secrets.token_hex(16)
    private, public = sealing.new_key_pair()
    _write(_path(key_id, "secret"), secrets.token_bytes(SECRET_BYTES))
    _write(_path(key_id, "private"), private)
    return key_id, public


def _read(key_id: str, kind: str) -> bytes:
    try:
        with open(_path(key_id, kind), "rb") as file:
            return file.read()
    except FileNotFoundError:
        raise KeyMissing(f"key file {key_id}.{kind} not in {key_dir()}") from None


def round_secret(key_id: str) -> bytes:
    return _read(key_id, "secret")


def private_key(key_id: str):
    return sealing.load_private_key(_read(key_id, "private"))


def destroy(key_id: str) -> None:
    """Overwrite and remove a round's key files (idempotent). Overwriting is best effort: a
    journaling or copy-on-write file system may keep old blocks, hence a tmpfs in production."""
    for kind in ("secret", "private"):
        path = _path(key_id, kind)
        try:
            with open(path, "r+b") as file:
                file.write(bytes(os.path.getsize(path)))
                file.flush()
                os.fsync(file.fileno())
            os.remove(path)
        except FileNotFoundError:
            pass


def missing_keys(kinds: tuple[str, ...] = ("secret", "private")) -> list[str]:
    """Rounds taking or holding sealed ballots whose key files are not here, as messages."""
    problems = []
    rows = db.session.execute(select(Round.id, Round.name, Round.key_id)
                              .where(Round.status.in_(UNTALLIED), Round.key_id.is_not(None),
                                     Round.unsealed.is_(False))).all()
    for round_id, name, key_id in rows:
        absent = [kind for kind in kinds if not os.path.exists(_path(key_id, kind))]
        if absent:
            problems.append(f"round {round_id} ({name}): key files {', '.join(absent)} missing from {key_dir()}")
    return problems


def check_at_start(kinds: tuple[str, ...]) -> None:
    """Say loudly at start-up, not silently at the tally, that a round's keys are gone."""
    try:
        problems = missing_keys(kinds)
    except Exception:  # noqa: BLE001  (a database not migrated yet: nothing to check)
        db.session.rollback()
        return
    db.session.rollback()
    for problem in problems:
        log.critical("密钥缺失 KEY STORE: %s — its sealed ballots cannot be opened without them", problem)
