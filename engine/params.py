"""Parsing and range checks of user-typed parameters (pure; no QGIS, no GDAL).

Messages name the parameter, say what is wrong with which value and what is allowed.
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

from .errors import InputError

_SEPARATORS = re.compile(r"[,;\s]+")
_BAND_HELP = "give MS band numbers (from 1) separated by commas or semicolons, e.g. 2,3,5,7"


def _tokens(value: Any) -> list[Any]:
    if isinstance(value, str):
        text = value.strip().strip("[]()")
        return [t for t in _SEPARATORS.split(text) if t]
    if isinstance(value, (list, tuple)):
        out: list[Any] = []
        for item in value:
            out += _tokens(item) if isinstance(item, (str, list, tuple)) else [item]
        return out
    return [value]


def _band_number(token: Any, name: str) -> int:
    if isinstance(token, bool):
        raise InputError(f"{name}: {token!r} is not a band number; {_BAND_HELP}")
    try:
        number = float(token)
    except (TypeError, ValueError):
        raise InputError(f"{name}: {str(token)!r} is not a band number; {_BAND_HELP}") from None
    if not math.isfinite(number) or number != int(number):
        raise InputError(f"{name}: {token!r} is not a whole band number; {_BAND_HELP}")
    return int(number)


def parse_bands(value: Any, band_count: int | None = None, name: str = "BANDS"
                ) -> list[int] | None:
    """1-based band numbers from what users type: ``'2,3,5,7'``, ``'2;3;5;7'``,
    ``'2 3 5 7'``, ``[2, 3, 5, 7]``, ``['2', '3']``.  None or empty -> None (default).

    Refuses non-numbers, numbers below 1, numbers above ``band_count`` and duplicates,
    with a message that says which value and why (:class:`~engine.errors.InputError`).
    """
    if value is None:
        return None
    tokens = _tokens(value)
    if not tokens:
        return None
    bands = [_band_number(t, name) for t in tokens]
    for b in bands:
        if b < 1:
            raise InputError(f"{name}: band {b} does not exist: band numbers start at 1; "
                             f"{_BAND_HELP}")
        if band_count is not None and b > band_count:
            raise InputError(f"{name}: band {b} does not exist: the MS has {band_count} "
                             f"band(s), numbered 1 to {band_count}")
    seen: set[int] = set()
    for b in bands:
        if b in seen:
            raise InputError(f"{name}: band {b} is given twice ({','.join(map(str, bands))}); "
                             "each MS band can feed the model only once")
        seen.add(b)
    return bands


def check_number(name: str, value: Any, minimum: float | None = None,
                 maximum: float | None = None, integer: bool = False) -> float | int:
    """``value`` as a number inside ``[minimum, maximum]``; the message gives the range."""
    kind = "a whole number" if integer else "a number"
    bounds = ("" if minimum is None and maximum is None else
              f" from {_fmt(minimum)} to {_fmt(maximum)}" if minimum is not None
              and maximum is not None else
              f" of at least {_fmt(minimum)}" if minimum is not None else
              f" of at most {_fmt(maximum)}")
    allowed = f"{name} must be {kind}{bounds}"
    if isinstance(value, bool):
        raise InputError(f"{allowed}, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{allowed}, got {str(value)!r}") from None
    if not math.isfinite(number) or (integer and number != int(number)):
        raise InputError(f"{allowed}, got {value!r}")
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise InputError(f"{allowed}, got {_fmt(number)}")
    return int(number) if integer else number


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{int(v)}" if float(v).is_integer() else f"{v:g}"

