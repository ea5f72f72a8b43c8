"""The audit trail as a hash chain: each entry's hash covers its fields and the previous hash.

Editing an entry changes its hash; deleting one breaks the next entry's link (or, for the
last entry, disagrees with the recorded head). Pure: entries are plain mappings.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping

GENESIS = "0" * 64
FIELDS = ("seq", "at", "actor_id", "actor", "action", "target", "summary")


def entry_hash(prev_hash: str, entry: Mapping) -> str:
    """SHA-256 over the previous hash and the entry's fields in canonical JSON."""
    body = json.dumps([prev_hash, *(entry[f] for f in FIELDS)], ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def first_break(entries: Iterable[Mapping], head: tuple[int, str] | None) -> str | None:
    """Walk the chain in sequence order; return a sentence naming the first problem, or None.

    `head` is the recorded (last seq, last hash), None when nothing was ever recorded.
    """
    prev_hash, expected_seq = GENESIS, 1
    for entry in entries:
        if entry["seq"] != expected_seq:
            return f"第{expected_seq}条记录缺失（下一条为第{entry['seq']}条）"
        if entry["prev_hash"] != prev_hash:
            return f"第{entry['seq']}条记录的前序哈希不符：前一条记录被改动或删除"
        if entry_hash(prev_hash, entry) != entry["hash"]:
            return f"第{entry['seq']}条记录的内容与其哈希不符：该记录被改动"
        prev_hash, expected_seq = entry["hash"], expected_seq + 1
    last_seq = expected_seq - 1
    if head is None:
        return None if last_seq == 0 else "审计链头缺失"
    if head != (last_seq, prev_hash):
        return f"审计链头记录为第{head[0]}条，实际最后一条为第{last_seq}条：末尾记录被删除或改动"
    return None
