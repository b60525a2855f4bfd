import pytest

from bot.text import ascii_int, is_ascii_digits


@pytest.mark.parametrize("text", ["①", "²", "٣", "७", " 7", "7 ", "", "+1", "-1", "1.0", None, 7])
def test_only_ascii_digits_count(text: object) -> None:
    assert not is_ascii_digits(text)
    assert ascii_int(text) is None


def test_ascii_int_reads_and_bounds() -> None:
    assert ascii_int("042") == 42
    assert ascii_int("5", lo=1, hi=5) == 5
    assert ascii_int("6", lo=1, hi=5) is None
    assert ascii_int("0", lo=1) is None
    assert ascii_int("9" * 40) is None
