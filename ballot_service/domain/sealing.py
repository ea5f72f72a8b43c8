"""Sealed ballots: a ballot's content as one fixed-size ciphertext until the tally (A1).

A ballot is encoded (office, channel, ratings, receipt code), padded to the round's one size and sealed as
hybrid encryption to the round's public key, in two layers:

- a *seal key*: a random AES-128 key a web process makes for a round (and replaces every hour),
  sealed with HPKE (RFC 9180: X25519, HKDF-SHA256, AES-128-GCM) to the round's public key and
  stored as such — only the holder of the round's private key (the worker, at the tally) can
  open it;
- each ballot: AES-GCM under a seal key, with a fresh random nonce, bound to its round and seal
  key. One HPKE operation per seal key instead of one per ballot keeps the ballot's POST and
  the tally's unsealing cheap.

Every sealed ballot of a round is exactly as long as every other, so neither its office nor its
length nor its notes' length shows. A seal key groups the ballots one web process took in one
hour, which the database's commit times show of every row anyway; the unsealed rows carry
neither (fresh ids, shuffled).

A paper form's typing waits for its second typing: the web process must read it to compare the
two and show where they differ, so it is sealed symmetrically under a key derived from the
round's secret (the same AES-GCM and padding, bound to its round, office, serial and typist).
Like the ballots, typings left in dead tuples or WAL are unreadable once the tally has destroyed
the round's key files.
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
from .receipts import LENGTH as RECEIPT_LENGTH

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


def encode(office_id: int, channel: str, ratings: Iterable[Rating], receipt: str | None = None) -> bytes:
    """A ballot's plaintext: its office, channel, ratings and receipt code (domain.receipts;
    None for a ballot taken without a voter's form: paper, tests)."""
    return json.dumps([office_id, channel, [[r.person_id, r.level, list(r.tags), r.note] for r in ratings], receipt],
                      ensure_ascii=False, separators=(",", ":")).encode()


def decode_raw(data: bytes) -> tuple[int, str, list[list], str | None]:
    """(office id, channel, ratings as [person id, level, tags, note], receipt code or None):
    what the tally writes. A ballot sealed before receipts (three elements) has none."""
    office_id, channel, ratings, *rest = json.loads(data)
    receipt = rest[0] if rest else None
    if channel not in CHANNELS or len(rest) > 1:
        raise ValueError("unknown channel")
    if receipt is not None and not (isinstance(receipt, str) and len(receipt) == RECEIPT_LENGTH):
        raise ValueError("malformed receipt")
    return office_id, channel, ratings, receipt


def decode(data: bytes) -> tuple[int, str, list[Rating]]:
    office_id, channel, ratings, _receipt = decode_raw(data)
    return office_id, channel, [Rating(p, level, tuple(tags), note) for p, level, tags, note in ratings]


def padded_size(config: BallotConfig, most_people: int) -> int:
    """The one plaintext size of a round's sealed ballots: the encoding of the largest ballot
    the round allows (its biggest office, every person rated with the longest level and every
    tag of the longer tag list, and a receipt) plus the notes' whole budget at their widest, and
    the length."""
    longest_level = max(config.levels, key=len)
    tags = max((list(config.leader_tags), list(config.staff_tags)), key=lambda t: len(json.dumps(t)))
    worst = [Rating(MAX_ID, longest_level, tuple(tags), None)] * max(most_people, 1)
    return (_LENGTH.size + len(encode(MAX_ID, "online", worst, "0" * RECEIPT_LENGTH))
            + _NOTE_BYTES_PER_CHAR * NOTES_TOTAL_MAX)


def fits(size: int, plaintext: bytes) -> bool:
    """Whether the plaintext pads to `size`. A round opened before receipts has room for its
    largest ballot without one: such a ballot is sealed without its receipt rather than refused."""
    return _LENGTH.size + len(plaintext) <= size


def _pad(size: int, plaintext: bytes) -> bytes:
    if _LENGTH.size + len(plaintext) > size:
        raise ValueError("ballot larger than the round's sealed size")
    return _LENGTH.pack(len(plaintext)) + plaintext + bytes(size - _LENGTH.size - len(plaintext))


def _unpad(padded: bytes) -> bytes:
    (length,) = _LENGTH.unpack_from(padded)
    return padded[_LENGTH.size:_LENGTH.size + length]


def _aead_seal(key: AESGCM, context: bytes, size: int, plaintext: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + key.encrypt(nonce, _pad(size, plaintext), context)


def _aead_open(key: AESGCM, context: bytes, box: bytes) -> bytes:
    """Raises cryptography.exceptions.InvalidTag for a box not sealed under this key and context."""
    return _unpad(key.decrypt(box[:_NONCE_BYTES], box[_NONCE_BYTES:], context))


def new_seal_key() -> bytes:
    return AESGCM.generate_key(bit_length=128)


def _key_info(round_id: int, seal_key_id: str) -> bytes:
    return f"sanliang-seal-key\x1f{round_id}\x1f{seal_key_id}".encode()


def wrap_seal_key(public_key: bytes, round_id: int, seal_key_id: str, seal_key: bytes) -> bytes:
    """The seal key, HPKE-sealed to the round's public key (a fresh ephemeral key each time)."""
    return SUITE.encrypt(seal_key, x25519.X25519PublicKey.from_public_bytes(public_key),
                         info=_key_info(round_id, seal_key_id))


def unwrap_seal_key(private_key: x25519.X25519PrivateKey, round_id: int, seal_key_id: str, wrapped: bytes) -> bytes:
    return SUITE.decrypt(wrapped, private_key, info=_key_info(round_id, seal_key_id))


def _ballot_context(round_id: int, seal_key_id: str, ballot_id: str) -> bytes:
    """Binds a sealed ballot to its round, its seal key and its own row id: it cannot be moved
    into another box, nor copied into a second row (whose id must differ) to be counted twice."""
    return f"sanliang-ballot\x1f{round_id}\x1f{seal_key_id}\x1f{ballot_id}".encode()


def seal(seal_key: AESGCM, round_id: int, seal_key_id: str, ballot_id: str, size: int, plaintext: bytes) -> bytes:
    return _aead_seal(seal_key, _ballot_context(round_id, seal_key_id, ballot_id), size, plaintext)


def unseal(seal_key: AESGCM, round_id: int, seal_key_id: str, ballot_id: str, box: bytes) -> bytes:
    """Raises cryptography.exceptions.InvalidTag for a box altered, moved or copied."""
    return _aead_open(seal_key, _ballot_context(round_id, seal_key_id, ballot_id), box)


def _typing_key(secret: bytes, round_id: int) -> AESGCM:
    info = f"sanliang-paper-typing:{round_id}".encode()
    return AESGCM(HKDF(hashes.SHA256(), 16, salt=None, info=info).derive(secret))


def _typing_context(office_id: int, serial: str, typist_id: int) -> bytes:
    return f"{office_id}\x1f{serial}\x1f{typist_id}".encode()


def seal_typing(secret: bytes, round_id: int, size: int, office_id: int, serial: str, typist_id: int,
                plaintext: bytes) -> bytes:
    """One paper typing, sealed under the round's secret and bound to its row."""
    return _aead_seal(_typing_key(secret, round_id), _typing_context(office_id, serial, typist_id), size, plaintext)


def open_typing(secret: bytes, round_id: int, office_id: int, serial: str, typist_id: int, box: bytes) -> bytes:
    """Raises cryptography.exceptions.InvalidTag for a typing not sealed for this row."""
    return _aead_open(_typing_key(secret, round_id), _typing_context(office_id, serial, typist_id), box)


def load_private_key(raw: bytes) -> x25519.X25519PrivateKey:
    return x25519.X25519PrivateKey.from_private_bytes(raw)
