"""Reference interpreters of the CRM query languages, with each CRM's own semantics.

They evaluate the text/JSON our compilers emit against canonical records, so tests check the
*meaning* of the output, not just its spelling. Where a CRM's behaviour is not documented they
take the least favourable reading (e.g. ``!=`` also matching NULL), so a compiler that relies on
the favourable one fails here rather than at a customer.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from lark import Lark, Token, Tree

from crmhub.expr.dates import day_start, relative_range
from crmhub.expr.evaluate import lookup

# --- shared value helpers ---------------------------------------------------------------------


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    return value


def _cmp_values(a: Any, b: Any) -> tuple[Any, Any] | None:
    """Bring a record value and a query constant together, or None when incomparable."""
    if a is None or b is None:
        return None
    if isinstance(a, bool) or isinstance(b, bool):
        return (a, b) if isinstance(a, bool) and isinstance(b, bool) else None
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a, b
    if isinstance(a, datetime) or isinstance(b, datetime):
        if isinstance(a, date) and isinstance(b, date):
            da = a if isinstance(a, datetime) else day_start(a)
            db = b if isinstance(b, datetime) else day_start(b)
            return da, db
        return None
    if isinstance(a, date) and isinstance(b, date):
        return a, b
    if isinstance(a, str) and isinstance(b, str):
        return a.lower(), b.lower()
    return None


def _compare(op: str, a: Any, b: Any) -> bool:
    pair = _cmp_values(a, b)
    if pair is None:
        return False
    x, y = pair
    return {"=": x == y, "<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


def _like(value: Any, pattern: str) -> bool:
    if not isinstance(value, str):
        return False
    regex = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            regex.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        regex.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.fullmatch("".join(regex), value, re.IGNORECASE | re.DOTALL) is not None


def _relative(name: str, n: int | None, now: datetime) -> tuple[date, date]:
    return relative_range(name, n, now.astimezone(UTC).date())


def _range_test(op: str, value: Any, start: date, end: date) -> bool:
    if value is None:
        return False
    if isinstance(value, datetime):
        lo: Any = day_start(start)
        hi: Any = day_start(end)
    else:
        lo, hi = start, end
    return {
        "=": lo <= value < hi,
        "!=": value < lo or value >= hi,
        "<": value < lo,
        "<=": value < hi,
        ">": value >= hi,
        ">=": value >= lo,
    }[op]


# --- SOQL --------------------------------------------------------------------------------------

_SOQL = Lark(
    r"""
    ?start: or_
    ?or_: and_ ("OR"i and_)*
    ?and_: not_ ("AND"i not_)*
    ?not_: "NOT"i not_ -> neg | atom
    ?atom: "(" or_ ")"
         | FIELD OP value                         -> cmp
         | FIELD NOTKW? "IN"i "(" value ("," value)* ")"  -> in_
         | FIELD "LIKE"i STRING                   -> like
         | FIELD INCL "(" STRING ("," STRING)* ")" -> incl
    value: STRING | NUMBER | DATETIME | DATE | RELDATE | NULL | BOOL
    NOTKW: "NOT"i
    INCL: "INCLUDES"i | "EXCLUDES"i
    OP: "!=" | "<=" | ">=" | "=" | "<" | ">"
    NULL: "null"i
    BOOL: "true"i | "false"i
    RELDATE.3: /[A-Z][A-Z0-9_]*(:\d+)?/
    FIELD: /[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*/
    STRING: /'(?:[^'\\]|\\.)*'/
    DATETIME.5: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z/
    DATE.4: /\d{4}-\d{2}-\d{2}/
    NUMBER: /-?\d+(\.\d+)?/
    %ignore /\s+/
    """,
    parser="earley",
)

_SOQL_ESC = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def _soql_string(tok: str, like: bool = False) -> str:
    body = tok[1:-1]
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt == "u":
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        elif nxt in "%_":
            if not like:
                raise ValueError("\\% outside LIKE is a SOQL error")
            out.append("\\" + nxt)
            i += 2
        elif nxt.lower() in _SOQL_ESC:
            esc = _SOQL_ESC[nxt.lower()] if nxt not in "\"'\\" else nxt
            out.append(("\\" + esc) if like and esc == "\\" else esc)
            i += 2
        else:
            raise ValueError(f"bad SOQL escape \\{nxt}")
    return "".join(out)


def _soql_value(tree: Tree[Token], now: datetime) -> Any:
    tok = tree.children[0]
    assert isinstance(tok, Token)
    text = str(tok)
    if tok.type == "STRING":
        return _soql_string(text)
    if tok.type == "NUMBER":
        return float(text) if "." in text else int(text)
    if tok.type == "DATETIME":
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    if tok.type == "DATE":
        return date.fromisoformat(text)
    if tok.type == "NULL":
        return None
    if tok.type == "BOOL":
        return text.lower() == "true"
    name, _, n = text.partition(":")
    return ("REL", name, int(n) if n else None)


def eval_soql(where: str, record: dict[str, Any], now: datetime) -> bool:
    """Salesforce semantics: NULL is a value (``!=``/``NOT IN``/``EXCLUDES`` match it); text is case-insensitive."""
    return _soql(_SOQL.parse(where), record, now)


def _soql(node: Tree[Token] | Token, record: dict[str, Any], now: datetime) -> bool:
    assert isinstance(node, Tree)
    kind = node.data
    kids = node.children
    if kind == "or_":
        return any(_soql(k, record, now) for k in kids)
    if kind == "and_":
        return all(_soql(k, record, now) for k in kids)
    if kind == "neg":
        return not _soql(kids[0], record, now)
    field = str(kids[0])
    value = lookup(record, field)
    if kind == "cmp":
        op = str(kids[1])
        const = _soql_value(kids[2], now)  # type: ignore[arg-type]
        if isinstance(const, tuple):
            start, end = _relative(const[1], const[2], now)
            return _range_test(op, value, start, end)
        if const is None:
            return (value is None) == (op == "=")
        if op == "!=":
            return not _compare("=", value, const)
        return _compare(op, value, const)
    if kind == "in_":
        negated = isinstance(kids[1], Token) and kids[1].type == "NOTKW"
        consts = [_soql_value(k, now) for k in kids if isinstance(k, Tree)]
        found = any(_compare("=", value, c) for c in consts)
        return not found if negated else found
    if kind == "like":
        return _like(value, _soql_string(str(kids[1]), like=True))
    if kind == "incl":
        excludes = str(kids[1]).upper() == "EXCLUDES"
        wanted = {_soql_string(str(k)).lower() for k in kids[2:]}
        have = {v.lower() for v in value} if isinstance(value, list) else set()
        found = bool(have & wanted)
        return not found if excludes else found
    raise AssertionError(kind)


# --- OData -------------------------------------------------------------------------------------

_ODATA = Lark(
    r"""
    ?start: or_
    ?or_: and_ ("or" and_)*
    ?and_: not_ ("and" not_)*
    ?not_: "not" not_ -> neg | atom
    ?atom: "(" or_ ")"
         | PATH OP value                                   -> cmp
         | FUNC "(" PATH "," STRING ")"                    -> func
    value: STRING | NUMBER | DATETIME | DATE | NULL | BOOL
    OP: "eq" | "ne" | "lt" | "le" | "gt" | "ge"
    FUNC: "contains" | "startswith" | "endswith"
    NULL: "null"
    BOOL: "true" | "false"
    PATH: /[A-Za-z_][A-Za-z0-9_]*(\/[A-Za-z_][A-Za-z0-9_]*)*/
    STRING: /'(?:[^']|'')*'/
    DATETIME.5: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/
    DATE.4: /\d{4}-\d{2}-\d{2}/
    NUMBER: /-?\d+(\.\d+)?/
    %ignore " "
    """,
    parser="earley",
)


def eval_odata(text: str, record: dict[str, Any]) -> bool:
    """Dataverse: case-insensitive text; ``ne``/``not`` taken to match NULL (least favourable)."""
    return _odata(_ODATA.parse(text), record)


def _odata_value(tree: Tree[Token]) -> Any:
    tok = tree.children[0]
    assert isinstance(tok, Token)
    text = str(tok)
    if tok.type == "STRING":
        return text[1:-1].replace("''", "'")
    if tok.type == "NUMBER":
        return float(text) if "." in text else int(text)
    if tok.type == "DATETIME":
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    if tok.type == "DATE":
        return date.fromisoformat(text)
    if tok.type == "NULL":
        return None
    return text == "true"


def _odata(node: Tree[Token] | Token, record: dict[str, Any]) -> bool:
    assert isinstance(node, Tree)
    kids = node.children
    if node.data == "or_":
        return any(_odata(k, record) for k in kids)
    if node.data == "and_":
        return all(_odata(k, record) for k in kids)
    if node.data == "neg":
        return not _odata(kids[0], record)
    if node.data == "func":
        fn, path, lit = str(kids[0]), str(kids[1]), str(kids[2])
        value = lookup(record, path.replace("/", "."))
        needle = lit[1:-1].replace("''", "'").lower()
        if not isinstance(value, str):
            return False
        hay = value.lower()
        return {
            "contains": needle in hay,
            "startswith": hay.startswith(needle),
            "endswith": hay.endswith(needle),
        }[fn]
    path, op = str(kids[0]), str(kids[1])
    value = lookup(record, path.replace("/", "."))
    const = _odata_value(kids[2])  # type: ignore[arg-type]
    if const is None:
        return (value is None) == (op == "eq")
    if op == "ne":
        return not _compare("=", value, const)
    return _compare({"eq": "=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[op], value, const)


# --- Zoho COQL ---------------------------------------------------------------------------------

_COQL = Lark(
    r"""
    ?start: or_
    ?or_: and_ ("or" and_)*
    ?and_: atom ("and" atom)*
    ?atom: "(" or_ ")"
         | FIELD OP value                                  -> cmp
         | FIELD NOTKW? "in" "(" value ("," value)* ")"     -> in_
         | FIELD NOTKW? "like" STRING                      -> like
         | FIELD "is" NOTKW? "null"                        -> null
         | FIELD "between" value "and" value               -> between
    value: STRING | NUMBER | BOOL
    NOTKW: "not"
    OP: "!=" | "<=" | ">=" | "=" | "<" | ">"
    BOOL: "true" | "false"
    FIELD: /[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?/
    STRING: /'[^']*'/
    NUMBER: /-?\d+(\.\d+)?/
    %ignore " "
    """,
    parser="earley",
)


def _coql_const(text: str, value: Any) -> Any:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return date.fromisoformat(text)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00", text):
        return datetime.fromisoformat(text)
    return text


def _coql_value(tree: Tree[Token]) -> Any:
    tok = tree.children[0]
    assert isinstance(tok, Token)
    text = str(tok)
    if tok.type == "STRING":
        return _coql_const(text[1:-1], None)
    if tok.type == "NUMBER":
        return float(text) if "." in text else int(text)
    return text == "true"


def eval_coql(text: str, record: dict[str, Any]) -> bool:
    """COQL, least favourable: ``!=``/``not in``/``not like`` match NULL; text case-insensitive."""
    return _coql(_COQL.parse(text), record)


def _coql(node: Tree[Token] | Token, record: dict[str, Any]) -> bool:
    assert isinstance(node, Tree)
    kids = node.children
    if node.data == "or_":
        return any(_coql(k, record) for k in kids)
    if node.data == "and_":
        return all(_coql(k, record) for k in kids)
    value = lookup(record, str(kids[0]))
    negated = any(isinstance(k, Token) and k.type == "NOTKW" for k in kids)
    if node.data == "null":
        return (value is None) != negated
    if node.data == "cmp":
        op, const = str(kids[1]), _coql_value(kids[2])  # type: ignore[arg-type]
        if op == "!=":
            return not _compare("=", value, const)
        return _compare(op, value, const)
    if node.data == "between":
        lo, hi = _coql_value(kids[1]), _coql_value(kids[2])  # type: ignore[arg-type]
        return _compare(">=", value, lo) and _compare("<=", value, hi)
    if node.data == "in_":
        consts = [_coql_value(k) for k in kids if isinstance(k, Tree)]
        found = any(_compare("=", value, c) for c in consts)
        return not found if negated else found
    pattern = str(kids[-1])[1:-1]
    found = _like(value, pattern.replace("\\", "\\\\"))
    return not found if negated else found


# --- HubSpot -----------------------------------------------------------------------------------


def _hs_value(raw: str, value: Any) -> Any:
    """A filter value as HubSpot compares it with this property's stored value."""
    if isinstance(value, bool):
        return raw == "true"
    if isinstance(value, int | float):
        return float(raw)
    if isinstance(value, date):  # date properties hold midnight UTC; compare instants
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(raw))
    return raw


def _hs_filter(f: dict[str, Any], record: dict[str, Any]) -> bool:
    value = lookup(record, f["propertyName"])
    op = f["operator"]
    if op == "HAS_PROPERTY":
        return value is not None
    if op == "NOT_HAS_PROPERTY":
        return value is None
    if op in ("IN", "NOT_IN"):
        wanted = f["values"]
        assert all(v == v.lower() for v in wanted), "IN/NOT_IN string values must be lowercase"
        found = isinstance(value, str) and value.lower() in wanted
        return found if op == "IN" else not found  # NOT_IN: unset counts as "not in"
    if value is None:
        return op == "NEQ"
    const = _hs_value(f["value"], value)
    if op == "NEQ":
        return not _compare("=", value, const)
    return _compare({"EQ": "=", "LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}[op], value, const)


def eval_hubspot(groups: list[dict[str, Any]], record: dict[str, Any]) -> bool:
    """filterGroups: OR of groups, AND within; NEQ/NOT_IN match unset properties (least favourable)."""
    return any(all(_hs_filter(f, record) for f in g["filters"]) for g in groups)
