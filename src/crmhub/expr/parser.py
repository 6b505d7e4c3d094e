"""Text → AST, with error messages that say what was expected where.

The grammar lives in ``grammar.lark`` (LALR, so parsing never recurses). Limits keep hostile input
cheap: the text length, the nesting depth of the tree and of parentheses, list lengths and string
sizes are bounded and exceeding one raises :class:`ExpressionLimitError` with the position.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from crmhub.expr import ast
from crmhub.expr.dates import MAX_N, RELATIVE_N_NAMES, RELATIVE_NAMES
from crmhub.expr.errors import ExpressionLimitError, ExpressionSyntaxError, excerpt

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "MAX_LIST_ITEMS", "is_plain_field", "parse"]

#: Longest accepted expression text, in characters.
MAX_LENGTH = 100_000
#: Deepest accepted nesting (of the tree, and of parentheses).
MAX_DEPTH = 100
#: Most items in one IN / INCLUDES list or function call.
MAX_LIST_ITEMS = 10_000

_RESERVED = frozenset(
    {"AND", "OR", "NOT", "IN", "LIKE", "IS", "NULL", "TRUE", "FALSE", "INCLUDES", "EXCLUDES"}
)
_PLAIN_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "0": "\0", '"': '"', "'": "'", "\\": "\\"}

# Friendly names for the grammar's terminals in "expected …" messages.
_TERMINAL_NAMES = {
    "OR": "OR",
    "AND": "AND",
    "NOT": "NOT",
    "IN": "IN",
    "LIKE": "LIKE",
    "IS": "IS",
    "NULL": "NULL",
    "TRUE": "TRUE",
    "FALSE": "FALSE",
    "INCL": "INCLUDES/EXCLUDES",
    "COMP_OP": "a comparison (=, !=, <, <=, >, >=)",
    "ADD_OP": "an operator (+, -, &)",
    "MUL_OP": "an operator (*, /)",
    "MINUS": "'-'",
    "NAME": "a field or function name",
    "QUOTED_NAME": "a `quoted field`",
    "RELDATE_N": "a relative date (LAST_N_DAYS:n …)",
    "STRING": "a string",
    "NUMBER": "a number",
    "DATE": "a date",
    "DATETIME": "a datetime",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "$END": "the end of the expression",
}


def is_plain_field(path: str) -> bool:
    """True when ``path`` can be written without backticks."""
    if not _PLAIN_FIELD.fullmatch(path):
        return False
    return not any(part.upper() in _RESERVED for part in path.split("."))


@cache
def _parser() -> Lark:
    grammar = resources.files("crmhub.expr").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


def _span(source: str, meta: Any) -> ast.Span | None:
    if getattr(meta, "empty", True) and not hasattr(meta, "line"):
        return None
    try:
        return ast.Span(meta.start_pos, meta.end_pos, meta.line, meta.column, source)
    except AttributeError:
        return None


def _tok_span(source: str, tok: Token) -> ast.Span:
    return ast.Span(
        tok.start_pos or 0,
        tok.end_pos or 0,
        tok.line or 1,
        tok.column or 1,
        source,
    )


def _syntax_error(
    source: str, message: str, line: int, column: int, width: int = 1, hint: str | None = None
) -> ExpressionSyntaxError:
    return ExpressionSyntaxError(
        message, line=line, column=column, excerpt=excerpt(source, line, column, width), hint=hint
    )


def _limit_error(source: str, message: str, line: int, column: int) -> ExpressionLimitError:
    return ExpressionLimitError(message, line=line, column=column, excerpt=excerpt(source, line, column))


def _line_col(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _check_parentheses(source: str) -> None:
    """Refuse parentheses nested deeper than MAX_DEPTH (strings and quoted names skipped)."""
    depth = 0
    i = 0
    n = len(source)
    while i < n:
        ch = source[i]
        if ch in "\"'`":
            quote = ch
            i += 1
            while i < n and source[i] != quote:
                i += 2 if source[i] == "\\" and quote != "`" else 1
        elif ch == "(":
            depth += 1
            if depth > MAX_DEPTH:
                line, col = _line_col(source, i)
                raise _limit_error(
                    source, f"parentheses are nested more than {MAX_DEPTH} levels deep", line, col
                )
        elif ch == ")":
            depth -= 1
        i += 1


def _describe_expected(expected: set[str]) -> str:
    names = sorted({_TERMINAL_NAMES.get(e, e) for e in expected if not e.startswith("__")})
    # A value can start with many tokens; say so instead of listing them all.
    value_starts = {"a string", "a number", "a field or function name", "'('"}
    if value_starts <= set(names):
        names = [
            n
            for n in names
            if n
            not in value_starts
            | {
                "a date",
                "a datetime",
                "TRUE",
                "FALSE",
                "NULL",
                "NOT",
                "'-'",
                "a `quoted field`",
                "a relative date (LAST_N_DAYS:n …)",
            }
        ]
        names.insert(0, "a value (field, literal, function call or '(')")
    if not names:
        return "something else"
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _token_text(tok: Token) -> str:
    if tok.type == "$END":
        return "the end of the expression"
    return repr(str(tok))


def _from_lark_error(source: str, exc: UnexpectedInput) -> ExpressionSyntaxError:
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        ch = source[pos] if pos < len(source) else ""
        if ch in "\"'":
            return _syntax_error(
                source,
                "unterminated string: the closing quote is missing",
                exc.line,
                exc.column,
                hint=f"end the string with {ch}",
            )
        return _syntax_error(
            source,
            f"unexpected character {ch!r}; expected {_describe_expected(set(exc.allowed or ()))}",
            exc.line,
            exc.column,
        )
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type == "$END":
            line, col = _line_col(source, len(source))
            return _syntax_error(
                source,
                f"the expression ends too early; expected {_describe_expected(set(exc.expected))}",
                line,
                col,
            )
        width = max(1, len(str(tok)))
        return _syntax_error(
            source,
            f"unexpected {_token_text(tok)}; expected {_describe_expected(set(exc.expected))}",
            tok.line or 1,
            tok.column or 1,
            width,
        )
    if isinstance(exc, UnexpectedEOF):
        line, col = _line_col(source, len(source))
        return _syntax_error(
            source,
            f"the expression ends too early; expected {_describe_expected(set(exc.expected))}",
            line,
            col,
        )
    return _syntax_error(source, str(exc), getattr(exc, "line", 1) or 1, getattr(exc, "column", 1) or 1)


def parse(text: str) -> ast.Expr:
    """Parse expression ``text`` into an AST.

    Raises:
        ExpressionSyntaxError: the text is not a valid expression (says what was expected, where).
        ExpressionLimitError: the text is too long or nested too deeply.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse() needs a str, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise _limit_error(
            text[:200], f"the expression is {len(text):,} characters long; the limit is {MAX_LENGTH:,}", 1, 1
        )
    if not text.strip():
        raise _syntax_error(
            text, "the expression is empty", 1, 1, hint='write a filter such as Industry = "Banking"'
        )
    _check_parentheses(text)
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise _from_lark_error(text, exc) from None
    return _Builder(text).build(tree)


class _Builder:
    """Turns the lark tree into AST nodes bottom-up, without recursion."""

    def __init__(self, source: str) -> None:
        self.source = source

    def build(self, tree: Tree[Token] | Token) -> ast.Expr:
        if isinstance(tree, Token):  # a lone literal token never happens (literal is a rule)
            raise _syntax_error(self.source, "not an expression", 1, 1)
        built: dict[int, tuple[ast.Expr | list[ast.Expr], int]] = {}
        for sub in tree.iter_subtrees():  # bottom-up
            kids: list[Any] = []
            depth = 0
            for child in sub.children:
                if isinstance(child, Tree):
                    node, d = built.pop(id(child))
                    kids.append(node)
                    depth = max(depth, d)
                else:
                    kids.append(child)
            node = self._node(sub, kids)
            if not isinstance(node, list):  # lists (call arguments, IN items) are no tree level
                depth += 1
            if sub.data in ("sum", "product"):  # a chain a + b + c folds into nested pairs
                depth += (len(kids) - 1) // 2
            if depth > MAX_DEPTH + 2:
                span = _span(self.source, sub.meta)
                line, col = (span.line, span.column) if span else (1, 1)
                raise _limit_error(
                    self.source, f"the expression is nested more than {MAX_DEPTH} levels deep", line, col
                )
            built[id(sub)] = (node, depth)
        result, _ = built[id(tree)]
        assert not isinstance(result, list)
        return result

    # One method per grammar rule ------------------------------------------------------------------

    def _node(self, tree: Tree[Token], kids: list[Any]) -> ast.Expr | list[ast.Expr]:
        rule = str(tree.data)
        span = _span(self.source, tree.meta)
        handler = getattr(self, "_r_" + rule)
        result: ast.Expr | list[ast.Expr] = handler(kids, span)
        return result

    def _r_or_expr(self, kids: list[Any], span: ast.Span | None) -> ast.Expr:
        items = [k for k in kids if not isinstance(k, Token)]
        return ast.Or(tuple(_flatten(items, ast.Or)), span=span)

    def _r_and_expr(self, kids: list[Any], span: ast.Span | None) -> ast.Expr:
        items = [k for k in kids if not isinstance(k, Token)]
        return ast.And(tuple(_flatten(items, ast.And)), span=span)

    def _r_not_op(self, kids: list[Any], span: ast.Span | None) -> ast.Expr:
        return ast.Not(kids[-1], span=span)

    def _r_compare(self, kids: list[Any], span: ast.Span | None) -> ast.Expr:
        left, op, right = kids
        op = {"==": "=", "<>": "!="}.get(str(op), str(op))
        return ast.Compare(op, left, right, span=span)

    def _items(self, items: Any, span: ast.Span | None) -> tuple[ast.Expr, ...]:
        values: list[ast.Expr] = [] if items is None else items
        if len(values) > MAX_LIST_ITEMS:
            line, col = (span.line, span.column) if span else (1, 1)
            raise _limit_error(self.source, f"a list has more than {MAX_LIST_ITEMS:,} items", line, col)
        return tuple(values)

    def _r_in_op(self, kids: list[Any], span: ast.Span | None) -> ast.Expr:
        negated = any(isinstance(k, Token) and k.type == "NOT" for k in kids)
        return ast.In(kids[0], self._items(kids[-1], span), negated, span=span)

    def _r_like_op(self, kids: list[Any], span: ast.Span | None) -> ast.Expr:
        negated = any(isinstance(k, Token) and k.type == "NOT" for k in kids)
        return ast.Like(kids[0], kids[-1], negated, span=span)

    def _r_is_null(self, kids: list[Any], span: ast.Span | None) -> ast.Expr:
        negated = any(isinstance(k, Token) and k.type == "NOT" for k in kids)
        return ast.IsNull(kids[0], negated, span=span)

    def _r_includes_op(self, kids: list[Any], span: ast.Span | None) -> ast.Expr:
        negated = str(kids[1]).upper() == "EXCLUDES"
        return ast.Includes(kids[0], self._items(kids[-1], span), negated, span=span)

    def _r_items(self, kids: list[Any], span: ast.Span | None) -> list[ast.Expr]:
        return [k for k in kids if not isinstance(k, Token)]

    _r_args = _r_items

    def _r_sum(self, kids: list[Any], span: ast.Span | None) -> ast.Expr:
        result: ast.Expr = kids[0]
        for op, right in zip(kids[1::2], kids[2::2], strict=True):
            result = ast.Arith(str(op), result, right, span=_join(result.span, right.span) or span)
        return result

    _r_product = _r_sum

    def _r_neg(self, kids: list[Any], span: ast.Span | None) -> ast.Expr:
        operand = kids[-1]
        if isinstance(operand, ast.Literal) and operand.kind is not None and operand.kind.value == "number":
            assert isinstance(operand.value, int | float)
            return ast.Literal(-operand.value, span=span)
        return ast.Neg(operand, span=span)

    def _no_dunder(self, tok: Token, name: str) -> None:
        if any(part.startswith("__") for part in name.split(".")):
            raise _syntax_error(
                self.source,
                f"{name!r}: names starting with '__' are not allowed",
                tok.line or 1,
                tok.column or 1,
                len(name),
                hint="rename the field, or quote it with backticks if it really is a field",
            )

    def _r_call(self, kids: list[Any], span: ast.Span | None) -> ast.Expr:
        name_tok: Token = kids[0]
        name = str(name_tok)
        self._no_dunder(name_tok, name)
        if "." in name:
            raise _syntax_error(
                self.source,
                f"{name!r} is not a function: function names have no dots",
                name_tok.line or 1,
                name_tok.column or 1,
                len(name),
                hint="calling methods or attributes is not allowed",
            )
        args = self._items(kids[1], span)
        return ast.Call(name.upper(), args, span=span)

    def _r_field(self, kids: list[Any], span: ast.Span | None) -> ast.Expr:
        tok: Token = kids[0]
        name = str(tok)
        self._no_dunder(tok, name)
        if name.upper() in RELATIVE_NAMES:
            return ast.RelativeDate(name.upper(), None, span=span)
        if name.upper() in RELATIVE_N_NAMES:
            raise _syntax_error(
                self.source,
                f"{name.upper()} needs a number",
                tok.line or 1,
                tok.column or 1,
                len(name),
                hint=f"write {name.upper()}:7",
            )
        return ast.Field(name, span=span)

    def _r_quoted_field(self, kids: list[Any], span: ast.Span | None) -> ast.Expr:
        return ast.Field(str(kids[0])[1:-1], span=span)

    def _r_reldate_n(self, kids: list[Any], span: ast.Span | None) -> ast.Expr:
        tok: Token = kids[0]
        name, _, number = str(tok).partition(":")
        n = int(number.strip())
        if n > MAX_N:
            raise _limit_error(
                self.source,
                f"{name.upper()}:{n} is too far; the limit is {MAX_N:,}",
                tok.line or 1,
                tok.column or 1,
            )
        return ast.RelativeDate(name.strip().upper(), n, span=span)

    def _r_literal(self, kids: list[Any], span: ast.Span | None) -> ast.Expr:
        tok: Token = kids[0]
        kind = tok.type
        text = str(tok)
        value: ast.LiteralValue
        if kind == "STRING":
            value = self._string(tok)
        elif kind == "NUMBER":
            value = int(text) if text.isdigit() else float(text)
            if isinstance(value, float) and value in (float("inf"), float("-inf")):
                raise _syntax_error(
                    self.source, f"the number {text} is too large", tok.line or 1, tok.column or 1, len(text)
                )
        elif kind == "DATE":
            try:
                value = date.fromisoformat(text)
            except ValueError:
                raise _syntax_error(
                    self.source, f"{text} is not a valid date", tok.line or 1, tok.column or 1, len(text)
                ) from None
        elif kind == "DATETIME":
            value = self._datetime(tok)
        elif kind == "NULL":
            value = None
        else:
            value = kind == "TRUE"
        return ast.Literal(value, span=span or _tok_span(self.source, tok))

    def _datetime(self, tok: Token) -> datetime:
        text = str(tok)
        if not re.search(r"(Z|[+-]\d{2}(:?\d{2})?)$", text, re.IGNORECASE):
            raise _syntax_error(
                self.source,
                f"the datetime {text} has no UTC offset",
                tok.line or 1,
                tok.column or 1,
                len(text),
                hint=f"write {text}Z for UTC, or add an offset such as +02:00",
            )
        try:
            return datetime.fromisoformat(text.upper().replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            raise _syntax_error(
                self.source, f"{text} is not a valid datetime", tok.line or 1, tok.column or 1, len(text)
            ) from None

    def _string(self, tok: Token) -> str:
        raw = str(tok)[1:-1]
        if "\\" not in raw:
            return raw
        out: list[str] = []
        i = 0
        while i < len(raw):
            ch = raw[i]
            if ch != "\\" or i + 1 >= len(raw):
                out.append(ch)
                i += 1
                continue
            nxt = raw[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", raw[i + 2 : i + 6]):
                out.append(chr(int(raw[i + 2 : i + 6], 16)))
                i += 6
            else:
                # Unknown escapes keep their backslash, so LIKE "50\%" means a literal percent sign.
                out.append("\\" + nxt)
                i += 2
        return "".join(out)


def _flatten(items: list[ast.Expr], kind: type[ast.And] | type[ast.Or]) -> list[ast.Expr]:
    out: list[ast.Expr] = []
    for item in items:
        if isinstance(item, kind):
            out.extend(item.items)
        else:
            out.append(item)
    return out


def _join(a: ast.Span | None, b: ast.Span | None) -> ast.Span | None:
    if a is None or b is None:
        return a or b
    return ast.Span(a.start, b.end, a.line, a.column, a.source)
