"""Phone numbers on disclosure boards: a mainland mobile or a landline with its area code."""

import re

MOBILE = re.compile(r"^1[3-9]\d{9}$")
# Area code 0 + 2–3 digits, then a 7–8 digit number, optionally an extension: 0530-5310000-801
LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}(-\d{1,6})?$")


def normalize_phone(raw: str) -> str:
    """Drop spaces and full-width hyphens that people type into spreadsheets."""
    return raw.strip().replace(" ", "").replace("－", "-").replace("—", "-")


def is_valid_phone(phone: str) -> bool:
    return bool(MOBILE.match(phone) or LANDLINE.match(phone))


def tel_href(phone: str) -> str:
    """The tel: link for a tap-to-call button (extensions are dialled by hand)."""
    return "tel:" + "".join(phone.split("-")[:2]) if LANDLINE.match(phone) else "tel:" + phone
