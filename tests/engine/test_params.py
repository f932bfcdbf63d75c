"""User-typed parameters: BANDS as users write it, numbers with their allowed range."""

from __future__ import annotations

import pytest

from engine.errors import InputError
from engine.params import check_number, parse_bands


@pytest.mark.parametrize("value", ["2,3,5,7", "2;3;5;7", " 2, 3 ;5 7 ", "[2, 3, 5, 7]",
                                   [2, 3, 5, 7], ["2", "3", "5", "7"], ["2,3", 5, 7.0]])
def test_bands_as_users_type_them(value):
    assert parse_bands(value, 8) == [2, 3, 5, 7]


@pytest.mark.parametrize("value", [None, "", "  ", []])
def test_empty_bands_mean_default(value):
    assert parse_bands(value, 8) is None


@pytest.mark.parametrize("value,match", [
    ("2,x,5,7", r"BANDS: 'x' is not a band number; give MS band numbers"),
    ("2,3.5", r"BANDS: '3.5' is not a whole band number"),
    ("2,3,3,7", r"BANDS: band 3 is given twice \(2,3,3,7\)"),
    ("2,3,5,9", r"BANDS: band 9 does not exist: the MS has 8 band\(s\), numbered 1 to 8"),
    ("0,1,2,3", r"band 0 does not exist: band numbers start at 1"),
    ([True, 2], r"True is not a band number"),
])
def test_bad_bands_say_which_and_why(value, match):
    with pytest.raises(InputError, match=match):
        parse_bands(value, 8)


def test_numbers_give_their_range():
    assert check_number("TILE_SIZE", "512", 64, 4096, integer=True) == 512
    with pytest.raises(InputError, match=r"TILE_SIZE must be a whole number from 64 to 4096, "
                                         r"got 5000"):
        check_number("TILE_SIZE", 5000, 64, 4096, integer=True)
    with pytest.raises(InputError, match=r"OVERLAP must be a whole number of at least 0, "
                                         r"got 'many'"):
        check_number("OVERLAP", "many", 0, None, integer=True)
    with pytest.raises(InputError, match=r"BLOCK_SIZE must be a whole number .* got 32.5"):
        check_number("BLOCK_SIZE", 32.5, 8, 512, integer=True)
    with pytest.raises(InputError, match=r"X must be a number of at most 1, got nan"):
        check_number("X", float("nan"), None, 1)
