"""AU strings as the datasets write them -> sorted '+'-joined AU numbers."""

import pytest

from famnet.aus import AUParseError, normalise_aus


@pytest.mark.parametrize("value, expected", [
    ("4+L10", "4+10"),                 # side prefix dropped
    ("R12", "12"),
    ("1+2", "1+2"),
    ("12C", "12"),                     # intensity letter dropped
    ("10A/B", "10"),                   # intensity range, not an alternative AU
    ("A/L12", "12"),                   # first alternative that names an AU
    ("(R6 or R12)+R15", "6+15"),       # grouped alternatives
    ("R14A or 17A or 24A", "14"),
    ("12A+ref(24)", "12"),             # reference AU dropped
    ("R14+17+soft focus", "14+17"),    # free text dropped
    ("4+6+7+9+43E", "4+6+7+9+43"),
    ("L12 + 61", "12+61"),             # spaces around '+'
    ("?", ""),                         # unknown
    (None, ""),
    (float("nan"), ""),
    (12, "12"),                        # a number cell
    ("7+4", "4+7"),                    # sorted
    ("4+4", "4"),                      # without duplicates
])
def test_normalise_aus_known_values(value, expected):
    assert normalise_aus(value) == expected


def test_garbage_token_raises_naming_the_token():
    with pytest.raises(AUParseError, match="12X9"):
        normalise_aus("12X9")


def test_garbage_token_among_valid_ones_raises():
    with pytest.raises(AUParseError, match="12X9"):
        normalise_aus("4+12X9")


def test_fractional_number_cell_is_an_error():
    with pytest.raises(AUParseError, match="4.5"):
        normalise_aus(4.5)
