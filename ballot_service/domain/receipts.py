"""Ballot receipts: a short code that proves a ballot was counted, never what it said.

A voter's receipt is a keyed hash of their form's nonce (domain.form_tokens) under the round's
secret: the same on every resend of the same form, and unpredictable to anybody without the
secret (which the tally destroys, A2). It is shown once, on the thank-you page, and kept
nowhere but inside the sealed ballot; the tally writes the opened ballots' receipts apart from
everything else (no ballot, office or time), in code order, and publishes them. A voter finds
their code among the counted ones; nobody can tell from a code which ballot it came with, so
it cannot be sold or coerced into showing a rating.

Codes are 12 characters of Crockford's base32 (digits and letters without I, L, O, U: 60
bits), stored bare and shown in groups of four, `K7Q4-2MXA-9PBC`. What a voter types back is
read leniently: any case, spaces and dashes (full-width too), O for 0, I and L for 1.

The sealed ballot's row id is derived from the form the same way (under another label), so a
form sent again can tell whether its own ballot is in the box: only then does it get its
receipt shown again.
"""

import hmac
import unicodedata

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 12  # characters, 5 bits each
GROUP = 4
_PAIRS = [a + b for a in ALPHABET for b in ALPHABET]  # ten bits as two characters
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = str.maketrans("", "", " -_\t\r\n")


def receipt(round_secret: bytes, nonce: str) -> str:
    """The receipt code (bare, LENGTH characters) of the form with this nonce: the keyed hash's
    first 60 bits, five to a character, most significant first (two characters a lookup: the
    ballot's hot path, where base64.b32encode would cost as much as the HMAC)."""
    digest = hmac.digest(round_secret, f"sanliang-receipt\x1f{nonce}".encode(), "sha256")
    v = int.from_bytes(digest[:8]) >> 4
    return (_PAIRS[v >> 50] + _PAIRS[v >> 40 & 1023] + _PAIRS[v >> 30 & 1023] + _PAIRS[v >> 20 & 1023]
            + _PAIRS[v >> 10 & 1023] + _PAIRS[v & 1023])


def sealed_id(round_secret: bytes, nonce: str) -> str:
    """The sealed ballot's row id for the form with this nonce (32 hex digits, like a random
    one): a resend of the same form looks for its own ballot by it."""
    return hmac.digest(round_secret, f"sanliang-sealed-ballot\x1f{nonce}".encode(), "sha256")[:16].hex()


def grouped(code: str) -> str:
    """`K7Q42MXA9PBC` as `K7Q4-2MXA-9PBC`."""
    return f"{code[:GROUP]}-{code[GROUP:2 * GROUP]}-{code[2 * GROUP:]}"


def normalize(text: str | None) -> str | None:
    """The bare code a voter meant, or None for anything that cannot be a receipt code."""
    if not text or len(text) > 4 * LENGTH:
        return None
    code = unicodedata.normalize("NFKC", text).upper().translate(_SEPARATORS).translate(_READ_AS)
    if len(code) != LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code
