"""Sealed ballots: a ballot's content as one fixed-size ciphertext until the tally (A1).

A ballot is encoded (office, channel, ratings), padded to the round's one size and sealed
with HPKE (RFC 9180: X25519, HKDF-SHA256, AES-128-GCM, a fresh ephemeral key per ballot) to
the round's public key. Every sealed ballot of a round is exactly as long as every other, so
neither its office nor its length nor its notes' length shows; only the holder of the round's
private key (the worker, at the tally) can open it.

A paper form's typing waits for its second typing: the web process must read it to compare the
two and show where they differ, so it is sealed symmetrically under a key derived from the
round's secret (AES-GCM, a fresh random nonce, padded to the same size, bound to its round,
office, serial and typist). Like the ballots, typings left in dead tuples or WAL are unreadable
once the tally has destroyed the round's key files.
"""

import json
import os
import struct
from collections.abc import Iterable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .ballots import NOTES_TOTAL_MAX, BallotConfig, Rating

SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
MAX_ID = 2**31 - 1
CHANNELS = ("online", "paper")
_LENGTH = struct.Struct(">I")
# A note character is at most 4 bytes of UTF-8, and JSON escapes (\" \\ \n \r \t) are 2.
_NOTE_BYTES_PER_CHAR = 4
_NONCE_BYTES = 12


def new_key_pair() -> tuple[bytes, bytes]:
    """(private, public) raw 32-byte X25519 keys for a round."""
    private = x25519.X25519PrivateKey.generate()
    return private.private_bytes_raw(), private.public_key().public_bytes_raw()


def encode(office_id: int, channel: str, ratings: Iterable[Rating]) -> bytes:
    return json.dumps([office_id, channel, [[r.person_id, r.level, list(r.tags), r.note] for r in ratings]],
                      ensure_ascii=False, separators=(",", ":")).encode()


def decode(data: bytes) -> tuple[int, str, list[Rating]]:
    office_id, channel, ratings = json.loads(data)
    if channel not in CHANNELS:
        raise ValueError("unknown channel")
    return office_id, channel, [Rating(p, level, tuple(tags), note) for p, level, tags, note in ratings]


def padded_size(config: BallotConfig, most_people: int) -> int:
    """The one plaintext size of a round's sealed ballots: the encoding of the largest ballot
    the round allows (its biggest office, every person rated with the longest level and every
    tag of the longer tag list) plus the notes' whole budget at their widest, and the length."""
    longest_level = max(config.levels, key=len)
    tags = max((list(config.leader_tags), list(config.staff_tags)), key=lambda t: len(json.dumps(t)))
    worst = [Rating(MAX_ID, longest_level, tuple(tags), None)] * max(most_people, 1)
    return _LENGTH.size + len(encode(MAX_ID, "online", worst)) + _NOTE_BYTES_PER_CHAR * NOTES_TOTAL_MAX


def _info(round_id: int) -> bytes:
    """Binds a sealed ballot to its round: it cannot be moved into another round's box."""
    return f"sanliang-ballot:{round_id}".encode()


def _pad(size: int, plaintext: bytes) -> bytes:
    if _LENGTH.size + len(plaintext) > size:
        raise ValueError("ballot larger than the round's sealed size")
    return _LENGTH.pack(len(plaintext)) + plaintext + bytes(size - _LENGTH.size - len(plaintext))


def _unpad(padded: bytes) -> bytes:
    (length,) = _LENGTH.unpack_from(padded)
    return padded[_LENGTH.size:_LENGTH.size + length]


def seal(public_key: bytes, round_id: int, size: int, plaintext: bytes) -> bytes:
    return SUITE.encrypt(_pad(size, plaintext), x25519.X25519PublicKey.from_public_bytes(public_key),
                         info=_info(round_id))


def unseal(private_key: x25519.X25519PrivateKey, round_id: int, box: bytes) -> bytes:
    return _unpad(SUITE.decrypt(box, private_key, info=_info(round_id)))


def _typing_key(secret: bytes, round_id: int) -> AESGCM:
    info = f"sanliang-paper-typing:{round_id}".encode()
    return AESGCM(HKDF(hashes.SHA256(), 16, salt=None, info=info).derive(secret))


def _typing_context(office_id: int, serial: str, typist_id: int) -> bytes:
    return f"{office_id}\x1f{serial}\x1f{typist_id}".encode()


def seal_typing(secret: bytes, round_id: int, size: int, office_id: int, serial: str, typist_id: int,
                plaintext: bytes) -> bytes:
    """One paper typing, sealed under the round's secret and bound to its row."""
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + _typing_key(secret, round_id).encrypt(
        nonce, _pad(size, plaintext), _typing_context(office_id, serial, typist_id))


def open_typing(secret: bytes, round_id: int, office_id: int, serial: str, typist_id: int, box: bytes) -> bytes:
    """Raises cryptography.exceptions.InvalidTag for a typing not sealed for this row."""
    nonce, sealed = box[:_NONCE_BYTES], box[_NONCE_BYTES:]
    return _unpad(_typing_key(secret, round_id).decrypt(nonce, sealed, _typing_context(office_id, serial, typist_id)))


def load_private_key(raw: bytes) -> x25519.X25519PrivateKey:
    return x25519.X25519PrivateKey.from_private_bytes(raw)
