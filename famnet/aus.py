"""Normalise the datasets' action-unit strings to a '+'-joined list of AU numbers.

Rules (documented in docs/annotations.md):
- side and symmetry prefixes are dropped: L, R (unilateral), A (asymmetric), T, B (top / bottom), U;
  so is a side letter written after the number (MMEW: ``12L``, ``4R``), but not both on one token;
- FACS intensity letters A-E after the number are dropped (``12C`` -> 12, ``10A/B`` -> 10);
- alternatives are resolved to the first one that names an AU: ``R12 or R14`` -> 12,
  ``(R6 or R12)+R15`` -> 6+15, ``A/L12`` -> 12;
- ``ref(X)`` marks an AU the coder noted for reference, outside the coded movement: dropped;
- free text without a digit (``soft focus``) is dropped;
- ``?``, empty or missing means the AUs are unknown: the result is ``""`` and the sample is
  masked out of the AU task.
The result is sorted and without duplicates, e.g. ``"4+L10"`` -> ``"4+10"``.
"""

from __future__ import annotations

import math
import re

# [side]AU or AU[side], then an optional intensity: 'L12', '12L', '12C', 'R10A/B' (never 'L12R').
_TOKEN = re.compile(r"^(?:AU)?(?:[LRATBU](\d{1,2})|(\d{1,2})[LR]?)(?:[A-E](?:/[A-E])?)?$")
_REF = re.compile(r"ref\([^)]*\)", re.IGNORECASE)
_ALTERNATIVES = re.compile(r"\s+or\s+|/", re.IGNORECASE)


class AUParseError(ValueError):
    """An AU string has a token that is neither an AU code nor free text."""


def _resolve_alternatives(token: str) -> str:
    """Keep the first alternative that contains a digit (an AU number)."""
    parts = [p.strip(" ()") for p in _ALTERNATIVES.split(token)]
    for part in parts:
        if any(ch.isdigit() for ch in part):
            # "10A/B": the part after '/' is an intensity, not a new AU; it has no digit anyway.
            return part
    return ""


def _split_top_level(text: str) -> list[str]:
    """Split on '+' outside parentheses, so '(R6 or R12)+R15' keeps its group."""
    tokens, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "+" and depth == 0:
            tokens.append("".join(current))
            current = []
        else:
            current.append(ch)
    tokens.append("".join(current))
    return tokens


def parse_aus(value) -> list[int]:
    """Return the sorted AU numbers of one annotation cell; [] when unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, (int, float)):
        if value != int(value):
            raise AUParseError(f"AU cell {value!r} is not a whole AU number")
        return [int(value)]
    text = _REF.sub("", str(value)).strip()
    if text in ("", "?", "/", "-"):
        return []
    aus: set[int] = set()
    for raw in _split_top_level(text):
        token = _resolve_alternatives(raw.strip())
        token = token.replace(" ", "").upper()
        if not token:
            continue
        if not any(ch.isdigit() for ch in token):
            continue  # free text such as "soft focus"
        match = _TOKEN.match(token)
        if not match:
            raise AUParseError(f"cannot read AU token {raw.strip()!r} in {value!r}")
        aus.add(int(match.group(1) or match.group(2)))
    return sorted(aus)


def normalise_aus(value) -> str:
    """'+'-joined sorted AU numbers, e.g. '4+L10' -> '4+10'; '' when unknown."""
    return "+".join(str(au) for au in parse_aus(value))
