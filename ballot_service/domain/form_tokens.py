"""Form tokens, kept by nobody: signed, not stored (B2).

A token carries its expiry and a random nonce, and a MAC over them, the round, the office and
the voter's identity under the round's secret. So a token is good only for the voter, round
and office it was issued to, until it expires; the office page writes nothing anywhere to
issue one. A token may be sent again (the retry page does): the claim holds a keyed tag of its
nonce so the same form passes its own claim, and the database's dedup record takes one ballot
per voter and office, whatever the token.
"""

import base64
import hmac
import secrets

TTL = 4 * 3600  # seconds a form stays good to submit
_MAC_BYTES = 18


def _mac(secret: bytes, body: str, round_id: int, office_id: int, identity: str) -> str:
    message = f"form-token\x1f{round_id}\x1f{office_id}\x1f{identity}\x1f{body}".encode()
    return base64.urlsafe_b64encode(hmac.digest(secret, message, "sha256")[:_MAC_BYTES]).decode()


def issue(secret: bytes, round_id: int, office_id: int, identity: str, now: int) -> str:
    body = f"{now + TTL}.{secrets.token_urlsafe(12)}"
    return f"{body}.{_mac(secret, body, round_id, office_id, identity)}"


def nonce_of(secret: bytes, token: str, round_id: int, office_id: int, identity: str, now: int) -> str | None:
    """The token's nonce if it is genuine, for this voter, round and office, and not expired."""
    expires, _, rest = token.partition(".")
    nonce, _, mac = rest.partition(".")
    if not (expires.isascii() and expires.isdecimal() and len(expires) <= 12 and nonce and mac):
        return None
    body = f"{expires}.{nonce}"
    if not mac.isascii() or int(expires) <= now:  # compare_digest refuses non-ASCII str
        return None
    if not hmac.compare_digest(mac, _mac(secret, body, round_id, office_id, identity)):
        return None
    return nonce


def claim_tag(secret: bytes, nonce: str) -> str:
    """What a voter's claim holds: a keyed tag of the form's nonce, so the same form sent again
    recognises its own claim, and nobody without the round's secret can match it to a form."""
    return hmac.digest(secret, f"claim\x1f{nonce}".encode(), "sha256").hex()[:32]
