"""Salesforce-style record ids: 15 case-sensitive characters plus a 3-character checksum suffix.

An emulator id is ``<key prefix><"5g0"><9 base-62 digits of row + 1>``; the digits sort like the row
numbers, so ordering by Id follows creation order, as it roughly does in a real org.
"""

from __future__ import annotations

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B62_INDEX = {c: i for i, c in enumerate(B62)}
_SUFFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
POD = "5g0"


# Upper-case letters to "1", everything else to "0": a chunk's flags are then one int() call.
_FLAG_TABLE = str.maketrans({c: ("1" if "A" <= c <= "Z" else "0") for c in B62})
_PAIRS = [a + b for a in B62 for b in B62]


def to_18(id15: str) -> str:
    """Add Salesforce's case-safe checksum suffix to a 15-character id.

    Each 5-character chunk gives one suffix character: bit ``i`` is set when character ``i`` of the
    chunk is an upper-case letter.
    """
    flags = id15.translate(_FLAG_TABLE)
    return (
        id15
        + _SUFFIX_CHARS[int(flags[4::-1], 2)]
        + _SUFFIX_CHARS[int(flags[9:4:-1], 2)]
        + _SUFFIX_CHARS[int(flags[14:9:-1], 2)]
    )


def b62(value: int, width: int) -> str:
    """``value`` in base 62, left-padded with zeros to ``width`` digits."""
    digits = []
    while value:
        value, rem = divmod(value, 62)
        digits.append(B62[rem])
    return "".join(reversed(digits)).rjust(width, "0")


def _b62_9(value: int) -> str:
    """``value`` (< 62**9) as exactly nine base-62 digits, two digits per table look-up."""
    a, b = divmod(value, 3844)
    c, d = divmod(a, 3844)
    e, f = divmod(c, 3844)
    g, h = divmod(e, 3844)
    return B62[g] + _PAIRS[h] + _PAIRS[f] + _PAIRS[d] + _PAIRS[b]


_FLAG = [1 if "A" <= c <= "Z" else 0 for c in B62]
_PAIR_FLAGS = [_FLAG[a] | _FLAG[b] << 1 for a in range(62) for b in range(62)]
_SMALL = 62**5


def make_id(prefix: str, row: int) -> str:
    """The 18-character id of ``row`` of the object with key ``prefix``."""
    number = row + 1
    if number >= _SMALL or len(prefix) != 3:
        return to_18(prefix + POD + _b62_9(number))
    # Pages of ids are made one per record: below 62**5 the id is <prefix>5g00000<5 digits>, whose
    # first two checksum characters depend on the prefix alone and the third on the 5 digits.
    high, low = divmod(number, 3844)
    top, mid = divmod(high, 3844)
    flags = _FLAG[top] | _PAIR_FLAGS[mid] << 1 | _PAIR_FLAGS[low] << 3
    head = _HEADS.get(prefix)
    if head is None:
        zero = to_18(prefix + POD + "000000000")
        head = _HEADS[prefix] = (zero[:10], zero[15:17])
    return head[0] + B62[top] + _PAIRS[mid] + _PAIRS[low] + head[1] + _SUFFIX_CHARS[flags]


#: key prefix → (the id's first ten characters, its first two checksum characters)
_HEADS: dict[str, tuple[str, str]] = {}


def parse_id(value: str) -> tuple[str, int] | None:
    """(key prefix, row) of an emulator id (15 or 18 characters), or ``None`` if it is not one."""
    if len(value) not in (15, 18) or value[3:6] != POD:
        return None
    # The 3-character suffix is not checked: Salesforce goes by the 15-character part as well.
    number = 0
    for char in value[6:15]:
        digit = _B62_INDEX.get(char)
        if digit is None:
            return None
        number = number * 62 + digit
    if number < 1:
        return None
    return value[:3], number - 1


def id15(value: str) -> str:
    """The 15-character, case-sensitive part of an id (what comparisons use)."""
    return value[:15]


def looks_like_id(value: str) -> bool:
    """Whether ``value`` has the shape of a Salesforce id."""
    return len(value) in (15, 18) and value.isalnum()
