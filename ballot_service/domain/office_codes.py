"""Public office codes: what a poster's QR code points at (/o/<code>).

Short enough to type from a poster, with no characters a person can misread
(no 0/O, 1/I/L), upper case only. Uniqueness is the database's job (a unique
constraint; the caller draws again on a clash).
"""

import re
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 6  # 31**6 ≈ 887 million codes
_PATTERN = re.compile(f"^[{ALPHABET}]{{{LENGTH}}}$")


def new_office_code(taken: set[str] | frozenset[str] = frozenset()) -> str:
    """A random code not in `taken` (the database's unique constraint has the last word)."""
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        if code not in taken:
            return code


def normalize_office_code(raw: str) -> str:
    """Codes typed by hand are accepted in lower case and with surrounding spaces."""
    return raw.strip().upper()


def is_valid_office_code(code: str) -> bool:
    return bool(_PATTERN.match(code))


_DEPARTMENT_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def is_valid_department_code(code: str) -> bool:
    """Department codes are short ASCII words (letters, digits, - and _)."""
    return bool(_DEPARTMENT_CODE.match(code))
