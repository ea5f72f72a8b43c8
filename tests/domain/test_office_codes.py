from ballot_service.domain.office_codes import (
    ALPHABET,
    LENGTH,
    is_valid_office_code,
    new_office_code,
    normalize_office_code,
)


def test_codes_avoid_characters_people_misread():
    for ambiguous in "0O1IL":
        assert ambiguous not in ALPHABET
    codes = {new_office_code() for _ in range(2000)}
    assert all(len(c) == LENGTH and is_valid_office_code(c) for c in codes)
    assert len(codes) > 1990  # random, not a counter


def test_new_code_avoids_taken_codes():
    taken = {new_office_code() for _ in range(50)}
    assert all(new_office_code(taken) not in taken for _ in range(200))


def test_typed_codes_are_normalized_and_checked():
    assert normalize_office_code(" ab3k7m ") == "AB3K7M"
    assert is_valid_office_code("AB3K7M")
    assert not is_valid_office_code("AB0K7M")  # zero
    assert not is_valid_office_code("AB3K7")  # too short
