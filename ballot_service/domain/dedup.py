"""Anonymous de-duplication keys: one counted ballot per (round, office, voter identity).

The key is a keyed hash (HMAC-SHA256) of the identity and the office under the round's own
secret. Without the secret the key cannot be recomputed from an identity; the secret is
destroyed when the round is tallied, after which nobody can test whether an identity voted.
"""

import hmac


def dedup_key(round_secret: bytes, identity: str, office_id: int) -> str:
    message = f"{office_id}\x1f{identity}".encode()
    return hmac.digest(round_secret, message, "sha256").hex()
