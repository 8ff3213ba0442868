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


# The non-numeric AU tokens of the real sheets (inventory in the reference FORMATS.md, 2026-12-02).
REAL_TOKENS = {
    "casme2": "L1 L2 L4 L6 L7 L9 L10 L12 L14 L15 L16 R1 R2 R4 R6 R10 R12 R14",
    "mmew": "4R 10R 12L 20L L4 L7 L10 L12 L14 L20 R1 R4 R7 R10 R12 R14 R15 R20",
    "casme3": "B23 B28 L1 L2 L7 L9 L12 L14 L18 R1 R2 R7 R10 R12 R14 R20 T18 T24 T28",
}


@pytest.mark.parametrize("token", sorted({t for tokens in REAL_TOKENS.values() for t in tokens.split()}))
def test_every_side_token_of_the_real_sheets_reads_as_its_number(token):
    digits = "".join(ch for ch in token if ch.isdigit())
    assert normalise_aus(token) == str(int(digits))
    assert normalise_aus(f"1+{token}") == "+".join(sorted({"1", str(int(digits))}, key=int))


@pytest.mark.parametrize("value, expected", [
    ("6+12L", "6+12"),          # MMEW: side after the number
    ("4R+10R", "4+10"),
    ("T18+B23", "18+23"),       # CAS(ME)^3: top / bottom
    ("12LC", "12"),             # side after, then intensity
])
def test_side_letters_before_or_after_the_number(value, expected):
    assert normalise_aus(value) == expected


@pytest.mark.parametrize("token", ["L12R", "12T", "LL12", "12LR"])
def test_side_letters_on_both_ends_or_doubled_are_errors(token):
    with pytest.raises(AUParseError, match=token):
        normalise_aus(f"4+{token}")
