"""Receipt codes (domain.receipts) and the receipt inside a sealed ballot (domain.sealing), no app."""

import hmac
import re

from ballot_service.domain import receipts, sealing
from ballot_service.domain.ballots import DEFAULT_BALLOT_CONFIG, BallotConfig, Rating

SECRET = b"s" * 32
CONFIG = BallotConfig.from_snapshot(DEFAULT_BALLOT_CONFIG)


def test_a_receipt_is_twelve_crockford_characters_the_same_for_the_same_form():
    code = receipts.receipt(SECRET, "nonce-1")
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{12}", code)
    assert receipts.receipt(SECRET, "nonce-1") == code  # the same form sent again
    assert receipts.receipt(SECRET, "nonce-2") != code  # another form
    assert receipts.receipt(b"t" * 32, "nonce-1") != code  # another round's secret


def test_a_receipt_is_the_top_sixty_bits_of_its_keyed_hash():
    digest = hmac.digest(SECRET, b"sanliang-receipt\x1fabc", "sha256")
    value = int.from_bytes(digest[:8], "big") >> 4
    expected = "".join(receipts.ALPHABET[(value >> (5 * (11 - i))) & 31] for i in range(12))
    assert receipts.receipt(SECRET, "abc") == expected


def test_the_receipt_is_neither_the_claim_tag_nor_the_sealed_row_id():
    from ballot_service.domain.form_tokens import claim_tag

    nonce = "nonce-1"
    tag, row_id, code = claim_tag(SECRET, nonce), receipts.sealed_id(SECRET, nonce), receipts.receipt(SECRET, nonce)
    assert re.fullmatch(r"[0-9a-f]{32}", row_id) and row_id != tag
    assert receipts.sealed_id(SECRET, nonce) == row_id and receipts.sealed_id(SECRET, "other") != row_id
    assert code.lower() not in tag and code.lower() not in row_id


def test_codes_spread_over_the_alphabet():
    codes = [receipts.receipt(SECRET, str(n)) for n in range(2000)]
    assert len(set(codes)) == 2000
    used = {c for code in codes for c in code}
    assert used == set(receipts.ALPHABET)


def test_shown_in_groups_of_four():
    assert receipts.grouped("K7Q42MXA9PBC") == "K7Q4-2MXA-9PBC"


def test_what_a_voter_types_is_read_leniently():
    assert receipts.normalize("K7Q4-2MXA-9PBC") == "K7Q42MXA9PBC"
    assert receipts.normalize(" k7q4 2mxa 9pbc ") == "K7Q42MXA9PBC"
    assert receipts.normalize("K7Q4—2MXA－9PBC".replace("—", "-")) == "K7Q42MXA9PBC"  # a full-width dash
    assert receipts.normalize("ｋ７Ｑ４２ＭＸＡ９ＰＢＣ") == "K7Q42MXA9PBC"  # full-width, from a Chinese keyboard
    assert receipts.normalize("K7Q4\u30002MXA 9PBC") == "K7Q42MXA9PBC"  # an ideographic space
    assert receipts.normalize("O0Il-1LoI-iL10") == "001111011110"
    assert receipts.normalize("oo00-iiII-llLL") == "000011111111"


def test_anything_else_is_not_a_code():
    for typed in (None, "", "   ", "K7Q4-2MXA-9PB", "K7Q4-2MXA-9PBCD", "K7Q4-2MXA-9PBU", "K7Q4*2MXA*9PBC",
                  "回执码K7Q42MXA9PBC", "K7Q4-2MXA-9PB\u00e9", "-" * 200, "K" * 5000):
        assert receipts.normalize(typed) is None, typed


def test_every_code_normalizes_to_itself():
    for n in range(200):
        code = receipts.receipt(SECRET, f"n{n}")
        assert receipts.normalize(code) == code == receipts.normalize(receipts.grouped(code).lower())


def test_the_receipt_is_sealed_as_a_fourth_element_and_old_ballots_still_open():
    ratings = [Rating(7, "dissatisfied", ("obstruction",), "退回三次")]
    code = receipts.receipt(SECRET, "n")
    assert sealing.decode_raw(sealing.encode(3, "online", ratings, code)) == (
        3, "online", [[7, "dissatisfied", ["obstruction"], "退回三次"]], code)
    assert sealing.decode_raw(sealing.encode(3, "paper", ratings)) == (
        3, "paper", [[7, "dissatisfied", ["obstruction"], "退回三次"]], None)
    old = b'[3,"online",[[7,"satisfied",[],null]]]'  # sealed before receipts
    assert sealing.decode_raw(old) == (3, "online", [[7, "satisfied", [], None]], None)
    assert sealing.decode(sealing.encode(3, "online", ratings, code)) == (3, "online", ratings)


def test_a_malformed_receipt_does_not_open():
    import pytest

    for bad in (b'[3,"online",[],"SHORT"]', b'[3,"online",[],12]', b'[3,"online",[],"K7Q42MXA9PBC",1]'):
        with pytest.raises(ValueError):
            sealing.decode_raw(bad)


def test_the_largest_ballot_with_its_receipt_pads_to_the_rounds_one_size():
    people = 6
    size = sealing.padded_size(CONFIG, people)
    tags = max((CONFIG.leader_tags, CONFIG.staff_tags), key=len)
    worst = [Rating(sealing.MAX_ID, max(CONFIG.levels, key=len), tuple(tags), None)] * (people - 1) + [
        Rating(sealing.MAX_ID, max(CONFIG.levels, key=len), tuple(tags), "\U0001f600" * 500)]
    plaintext = sealing.encode(sealing.MAX_ID, "online", worst, receipts.receipt(SECRET, "n"))
    assert sealing.fits(size, plaintext)
    key = sealing.AESGCM(sealing.new_seal_key())
    small = sealing.seal(key, 1, "k", "b1", size, sealing.encode(1, "paper", []))
    large = sealing.seal(key, 1, "k", "b2", size, plaintext)
    assert len(small) == len(large)
    assert sealing.unseal(key, 1, "k", "b2", large) == plaintext
    # The size is the largest ballot's encoding with a receipt, the notes' budget and the length.
    no_notes = sealing.encode(sealing.MAX_ID, "online", worst[:-1] + [worst[0]], "0" * 12)
    assert size == len(no_notes) + 4 * 500 + 4
    old = b'[2147483647,"online",[[2147483647,"basically_satisfied",[],null]]]'  # a ballot sealed before receipts
    assert len(sealing.encode(sealing.MAX_ID, "online", [Rating(sealing.MAX_ID, "basically_satisfied")],
                              "0" * 12)) == len(old) + len(',"000000000000"')
