import pytest

from ballot_service.domain.phones import is_valid_phone, normalize_phone, tel_href


@pytest.mark.parametrize("phone", ["13953012345", "0530-5310000", "05305310000", "010-12345678", "0530-5310000-801"])
def test_valid_numbers(phone):
    assert is_valid_phone(phone)


@pytest.mark.parametrize("phone", ["1395301234", "12953012345", "5310000", "0530-531", "电话", "+8613953012345", ""])
def test_invalid_numbers(phone):
    assert not is_valid_phone(phone)


def test_normalize_and_tel_links():
    assert normalize_phone(" 0530－5310000 ") == "0530-5310000"
    assert tel_href("0530-5310000-801") == "tel:05305310000"
    assert tel_href("13953012345") == "tel:13953012345"
