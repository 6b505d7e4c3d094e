"""COQL as the emulator understands it: parse ``select … from … [where …] [order by …] [limit …]``.

Limits enforced as Zoho documents them (v7/v8 COQL pages; ``zoho/crm-oas`` ``v8.0/coql.json``): at
most 50 selected fields, 25 criteria, 50 values in ``in``, 2,000 rows per call (default 200),
100,000 rows reachable through LIMIT/OFFSET, 10 ORDER BY fields; criteria of more than two terms
must be bracketed (``(A and (B and C))``); comparators ``= != < <= > >= is [not] null
[not] in between like`` (``not like``). Errors carry Zoho's codes: ``SYNTAX_ERROR`` with
``details{line, column, near}``, ``INVALID_QUERY`` with ``details{column_name, reason}`` and
``LIMIT_EXCEEDED`` with ``details{by, limit}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

MAX_FIELDS = 50
MAX_CRITERIA = 25
MAX_IN = 50
MAX_LIMIT = 2000
DEFAULT_LIMIT = 200
MAX_ROWS = 100_000
MAX_ORDER = 10


class CoqlError(Exception):
    """A query Zoho would refuse: its code, details and message."""

    def __init__(self, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


Cond = tuple[Any, ...]
# ("and"|"or", left, right) | ("cmp", field, op, value) | ("null", field, negated)
# | ("in", field, values, negated) | ("between", field, lo, hi) | ("like", field, pattern, negated)


@dataclass
class Query:
    fields: list[str]
    module: str
    where: Cond | None
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, ascending)
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @property
    def credits(self) -> int:
        """API credits Zoho charges for this call (LIMIT 1–200: 1, 201–1000: 2, 1001–2000: 3)."""
        return 1 if self.limit <= 200 else 2 if self.limit <= 1000 else 3


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op><=|>=|!=|<>|=|<|>)"
    r"|(?P<punct>[(),;])|(?P<word>[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*))"
)
_KEYWORDS = {
    "select",
    "from",
    "where",
    "and",
    "or",
    "order",
    "by",
    "asc",
    "desc",
    "limit",
    "offset",
    "is",
    "not",
    "null",
    "in",
    "between",
    "like",
    "true",
    "false",
}


@dataclass
class _Tok:
    kind: str
    text: str
    column: int

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "word" else ""


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            near = text[pos:].strip()[:20]
            raise CoqlError(
                "SYNTAX_ERROR",
                "error occurred while parsing the query",
                {"line": 1, "column": pos + 1, "near": near},
            )
        kind = match.lastgroup or "word"
        start = match.start(kind)
        out.append(_Tok(kind, match.group(kind), start + 1))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.criteria = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def syntax(self, tok: _Tok | None = None) -> CoqlError:
        tok = tok or self.peek()
        near = tok.text if tok else "end of query"
        column = tok.column if tok else (self.toks[-1].column + len(self.toks[-1].text) if self.toks else 1)
        return CoqlError(
            "SYNTAX_ERROR",
            "error occurred while parsing the query",
            {"line": 1, "column": column, "near": near},
        )

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise self.syntax()
        self.i += 1
        return tok

    def keyword(self, word: str) -> None:
        tok = self.take()
        if tok.word != word:
            raise self.syntax(tok)

    def at(self, word: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.word == word

    def ident(self) -> str:
        tok = self.take()
        if tok.kind != "word" or tok.word in _KEYWORDS:
            raise self.syntax(tok)
        return tok.text

    def query(self) -> Query:
        self.keyword("select")
        fields = [self.ident()]
        while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
            self.take()
            fields.append(self.ident())
        if len(fields) > MAX_FIELDS:
            raise CoqlError(
                "LIMIT_EXCEEDED", "select columns limit exceeded", {"by": "select", "limit": MAX_FIELDS}
            )
        self.keyword("from")
        module = self.ident()
        where = None
        if self.at("where"):
            self.take()
            where = self.expr()
            if self.criteria > MAX_CRITERIA:
                raise CoqlError(
                    "LIMIT_EXCEEDED", "criteria limit exceeded", {"by": "criteria", "limit": MAX_CRITERIA}
                )
        order: list[tuple[str, bool]] = []
        if self.at("order"):
            self.take()
            self.keyword("by")
            while True:
                name = self.ident()
                ascending = True
                if self.at("asc") or self.at("desc"):
                    ascending = self.take().word == "asc"
                order.append((name, ascending))
                if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                    self.take()
                    continue
                break
            if len(order) > MAX_ORDER:
                raise CoqlError(
                    "LIMIT_EXCEEDED", "order by limit exceeded", {"by": "order by", "limit": MAX_ORDER}
                )
        limit, offset = DEFAULT_LIMIT, 0
        if self.at("limit"):
            self.take()
            first = self.integer()
            if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.take()
                offset, limit = first, self.integer()
            else:
                limit = first
                if self.at("offset"):
                    self.take()
                    offset = self.integer()
        if self.peek() is not None and self.peek().text == ";":  # type: ignore[union-attr]
            self.take()
        if self.peek() is not None:
            raise self.syntax()
        if limit < 1 or limit > MAX_LIMIT:
            raise CoqlError("LIMIT_EXCEEDED", "limit exceeded", {"by": "limit", "limit": MAX_LIMIT})
        if offset + limit > MAX_ROWS:
            raise CoqlError("LIMIT_EXCEEDED", "offset limit exceeded", {"by": "offset", "limit": MAX_ROWS})
        return Query(fields, module, where, order, limit, offset)

    def integer(self) -> int:
        tok = self.take()
        if tok.kind != "num" or "." in tok.text or tok.text.startswith("-"):
            raise self.syntax(tok)
        return int(tok.text)

    def expr(self) -> Cond:
        left = self.term()
        if self.at("and") or self.at("or"):
            word = self.take().word
            right = self.term()
            if self.at("and") or self.at("or"):
                # Zoho: criteria of more than two terms must be grouped in parentheses.
                raise self.syntax()
            return (word, left, right)
        return left

    def term(self) -> Cond:
        tok = self.peek()
        if tok is not None and tok.text == "(":
            self.take()
            inner = self.expr()
            close = self.take()
            if close.text != ")":
                raise self.syntax(close)
            return inner
        return self.comparison()

    def value(self) -> Any:
        tok = self.take()
        if tok.kind == "str":
            return tok.text[1:-1].replace("''", "'")
        if tok.kind == "num":
            return float(tok.text) if "." in tok.text else int(tok.text)
        if tok.word in ("true", "false"):
            return tok.word == "true"
        raise self.syntax(tok)

    def comparison(self) -> Cond:
        name = self.ident()
        self.criteria += 1
        tok = self.take()
        if tok.kind == "op":
            op = "!=" if tok.text == "<>" else tok.text
            return ("cmp", name, op, self.value())
        word = tok.word
        if word == "is":
            negated = False
            if self.at("not"):
                self.take()
                negated = True
            self.keyword("null")
            return ("null", name, negated)
        negated = False
        if word == "not":
            negated = True
            word = self.take().word
        if word == "in":
            opening = self.take()
            if opening.text != "(":
                raise self.syntax(opening)
            values = [self.value()]
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.take()
                values.append(self.value())
            closing = self.take()
            if closing.text != ")":
                raise self.syntax(closing)
            if len(values) > MAX_IN:
                raise CoqlError(
                    "LIMIT_EXCEEDED", "in clause value limit exceeded", {"by": "in", "limit": MAX_IN}
                )
            return ("in", name, values, negated)
        if word == "between" and not negated:
            lo = self.value()
            self.keyword("and")
            return ("between", name, lo, self.value())
        if word == "like":
            pattern = self.value()
            if not isinstance(pattern, str):
                raise self.syntax()
            return ("like", name, pattern, negated)
        raise self.syntax(tok)


def parse(text: str) -> Query:
    """The query in ``text``; raises :class:`CoqlError` with Zoho's code."""
    if not isinstance(text, str) or not text.strip():
        raise CoqlError(
            "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", {"param": "select_query"}
        )
    return _Parser(text).query()


def fields_in(cond: Cond | None) -> set[str]:
    """Every field a condition names."""
    if cond is None:
        return set()
    if cond[0] in ("and", "or"):
        return fields_in(cond[1]) | fields_in(cond[2])
    return {cond[1]}


def conjuncts(cond: Cond | None) -> list[Cond]:
    """The top-level AND terms of a condition."""
    if cond is None:
        return []
    if cond[0] == "and":
        return conjuncts(cond[1]) + conjuncts(cond[2])
    return [cond]
