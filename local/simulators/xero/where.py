"""The Accounting API's `where` and `order` query parameters, parsed and evaluated.

Xero's `where` is a .NET Dynamic-LINQ style expression (developer.xero.com/documentation/api/
accounting/requests-and-responses, "Optimised use of the where filter"; examples in
XeroAPI/xero-ruby 2.2.2 release notes): `Type=="BANK"`, `Status!="DELETED"`, `AmountDue > 0`,
`Date >= DateTime(2015, 01, 01) && Date < DateTime(2015, 12, 31)`,
`Contact.ContactID==Guid("...")`, `Name.Contains("Pet")`, `Name.StartsWith("P")`,
`EmailAddress!=null&&EmailAddress.StartsWith("boom")`, `IsCustomer==true`; `AND`/`&&`,
`OR`/`||`, `NOT`/`!`, parentheses, `=` as a synonym of `==`. Property names ignore case
(xero-ruby orders by `UpdatedDateUtc`). A syntax error or an unknown property is a 400
`QueryParseException`, with the Dynamic-LINQ wording "No property or field 'X' exists in type
'Contact'". String comparisons ignore case here (SQL Server collation; unconfirmed (U)).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .dates import DateFormatError, parse_datetime


class QueryParseError(ValueError):
    """A `where`/`order` expression Xero would reject with QueryParseException."""


@dataclass
class _Tok:
    kind: str  # IDENT STR NUM OP LP RP COMMA DOT AND OR NOT END
    value: Any
    pos: int


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<STR>"(?:[^"\\]|\\.)*")
    | (?P<NUM>-?\d+(?:\.\d+)?)
    | (?P<OP>==|!=|<>|<=|>=|=|<|>)
    | (?P<AND>&&)
    | (?P<OR>\|\|)
    | (?P<NOT>!)
    | (?P<LP>\()
    | (?P<RP>\))
    | (?P<COMMA>,)
    | (?P<DOT>\.)
    | (?P<IDENT>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise QueryParseError(f"Syntax error at position {pos} in '{text}'")
        kind = m.lastgroup or ""
        raw = m.group(kind)
        if kind == "STR":
            value: Any = re.sub(r"\\(.)", r"\1", raw[1:-1])
        elif kind == "NUM":
            value = float(raw)
        elif kind == "IDENT" and raw.upper() in ("AND", "OR", "NOT"):
            kind, value = raw.upper(), raw
        else:
            value = raw
        toks.append(_Tok(kind, value, m.start(kind)))
        pos = m.end()
    toks.append(_Tok("END", None, len(text)))
    return toks


class _Guid(str):
    """A `Guid("...")` literal: compares without regard to case."""


Getter = Callable[[dict[str, Any]], Any]
Pred = Callable[[dict[str, Any]], bool]


def lookup(obj: Any, path: list[str]) -> Any:
    """Follow a dotted property path, ignoring case; `KeyError` names the missing segment."""
    cur = obj
    for name in path:
        if cur is None:
            return None
        if not isinstance(cur, dict):
            raise KeyError(name)
        low = name.lower()
        for key, value in cur.items():
            if key.lower() == low:
                cur = value
                break
        else:
            raise KeyError(name)
    return cur


def _norm(a: Any, b: Any) -> tuple[Any, Any]:
    """Bring two operands to comparable types (dates, guids, numbers, case-folded strings)."""
    if isinstance(a, datetime) or isinstance(b, datetime):
        try:
            a = a if isinstance(a, datetime) or a is None else parse_datetime(str(a))
            b = b if isinstance(b, datetime) or b is None else parse_datetime(str(b))
        except DateFormatError as exc:
            raise QueryParseError(str(exc)) from exc
        return a, b
    if isinstance(a, bool) or isinstance(b, bool):
        return a, b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a), float(b)
    if isinstance(a, (int, float)) and isinstance(b, str):
        try:
            return float(a), float(b)
        except ValueError:
            return str(a), b.lower()
    if isinstance(b, (int, float)) and isinstance(a, str):
        try:
            return float(a), float(b)
        except ValueError:
            return a.lower(), str(b)
    if isinstance(a, str) and isinstance(b, str):
        return a.lower(), b.lower()
    return a, b


def _compare(op: str, a: Any, b: Any) -> bool:
    if op in ("==", "="):
        if a is None or b is None:
            return a is None and b is None
        x, y = _norm(a, b)
        return bool(x == y)
    if op in ("!=", "<>"):
        if a is None or b is None:
            return not (a is None and b is None)
        x, y = _norm(a, b)
        return bool(x != y)
    if a is None or b is None:
        return False
    x, y = _norm(a, b)
    try:
        if op == "<":
            return bool(x < y)
        if op == ">":
            return bool(x > y)
        if op == "<=":
            return bool(x <= y)
        if op == ">=":
            return bool(x >= y)
    except TypeError as exc:
        raise QueryParseError(f"Operator '{op}' incompatible with operand types") from exc
    raise QueryParseError(f"Unknown operator '{op}'")


class _Parser:
    def __init__(self, text: str, type_name: str, sample_fields: set[str] | None) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.type_name = type_name
        # lower-case top-level property names the type has; None = do not check
        self.fields = sample_fields

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self, kind: str | None = None) -> _Tok:
        tok = self.toks[self.i]
        if kind and tok.kind != kind:
            raise QueryParseError(
                f"Syntax error: expected {kind} at position {tok.pos} in '{self.text}'"
            )
        self.i += 1
        return tok

    def parse(self) -> Pred:
        pred = self.or_expr()
        if self.peek().kind != "END":
            raise QueryParseError(
                f"Syntax error: unexpected '{self.peek().value}' at position {self.peek().pos}"
            )
        return pred

    def or_expr(self) -> Pred:
        parts = [self.and_expr()]
        while self.peek().kind == "OR":
            self.take()
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        return lambda o: any(p(o) for p in parts)

    def and_expr(self) -> Pred:
        parts = [self.unary()]
        while self.peek().kind == "AND":
            self.take()
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        return lambda o: all(p(o) for p in parts)

    def unary(self) -> Pred:
        if self.peek().kind == "NOT":
            self.take()
            inner = self.unary()
            return lambda o: not inner(o)
        return self.comparison()

    def comparison(self) -> Pred:
        if self.peek().kind == "LP":
            # a parenthesised boolean expression
            save = self.i
            self.take()
            try:
                inner = self.or_expr()
                self.take("RP")
            except QueryParseError:
                self.i = save
            else:
                if self.peek().kind != "OP":
                    return inner
                self.i = save
        left = self.operand()
        if self.peek().kind == "OP":
            op = self.take().value
            right = self.operand()
            return lambda o: _compare(op, left(o), right(o))
        return lambda o: bool(left(o))

    def operand(self) -> Getter:
        tok = self.take()
        if tok.kind == "STR":
            v = tok.value
            return lambda o: v
        if tok.kind == "NUM":
            n = tok.value
            return lambda o: n
        if tok.kind == "LP":
            inner = self.or_expr()
            self.take("RP")
            return inner
        if tok.kind != "IDENT":
            raise QueryParseError(f"Syntax error: unexpected '{tok.value}' at position {tok.pos}")
        word = tok.value
        low = word.lower()
        if low in ("null",):
            return lambda o: None
        if low in ("true", "false"):
            b = low == "true"
            return lambda o: b
        if low == "guid" and self.peek().kind == "LP":
            self.take()
            s = self.take("STR").value
            self.take("RP")
            g = _Guid(s)
            return lambda o: g
        if low == "datetime" and self.peek().kind == "LP":
            self.take()
            nums: list[int] = []
            while self.peek().kind != "RP":
                nums.append(int(self.take("NUM").value))
                if self.peek().kind == "COMMA":
                    self.take()
            self.take("RP")
            if len(nums) < 3:
                raise QueryParseError("DateTime needs year, month and day")
            try:
                dt = datetime(*nums[:6], tzinfo=UTC)  # type: ignore[misc]
            except (TypeError, ValueError) as exc:
                raise QueryParseError(str(exc)) from exc
            return lambda o: dt
        path = [word]
        methods: list[tuple[str, list[Any]]] = []
        while self.peek().kind == "DOT":
            self.take()
            name = self.take("IDENT").value
            if self.peek().kind == "LP":
                self.take()
                args: list[Any] = []
                while self.peek().kind != "RP":
                    args.append(self.take().value)
                    if self.peek().kind == "COMMA":
                        self.take()
                self.take("RP")
                methods.append((name, args))
            elif methods:
                raise QueryParseError(f"Syntax error at position {self.peek().pos}")
            else:
                path.append(name)
        if self.fields is not None and path[0].lower() not in self.fields:
            raise QueryParseError(
                f"No property or field '{path[0]}' exists in type '{self.type_name}'"
            )
        type_name = self.type_name

        def get(o: dict[str, Any]) -> Any:
            try:
                value = lookup(o, path)
            except KeyError:
                value = None  # optional property absent on this object
            for name, args in methods:
                value = _call(name, value, args, type_name)
            return value

        return get


def _call(name: str, value: Any, args: list[Any], type_name: str) -> Any:
    m = name.lower()
    if m in ("tolower", "toupper"):
        if value is None:
            return None
        return str(value).lower() if m == "tolower" else str(value).upper()
    if m in ("contains", "startswith", "endswith"):
        if len(args) != 1:
            raise QueryParseError(f"No applicable method '{name}' exists in type 'String'")
        if value is None:
            return False
        s, a = str(value).lower(), str(args[0]).lower()
        return (
            s.find(a) >= 0
            if m == "contains"
            else (s.startswith(a) if m == "startswith" else s.endswith(a))
        )
    raise QueryParseError(f"No applicable method '{name}' exists in type '{type_name}'")


def compile_where(text: str, type_name: str, fields: set[str] | None = None) -> Pred:
    """A predicate over wire-format objects for a `where` expression.

    `fields`: the lower-case property names the type has (an unknown one is an error).
    """
    if not text or not text.strip():
        return lambda o: True
    return _Parser(text, type_name, fields).parse()


def apply_order(
    items: list[dict[str, Any]], order: str | None, type_name: str, fields: set[str] | None = None
) -> list[dict[str, Any]]:
    """Sort by `order` (`"Name DESC"`, `"UpdatedDateUTC ASC, Name"`); stable, nulls first."""
    if not order or not order.strip():
        return items
    keys: list[tuple[list[str], bool]] = []
    for part in order.split(","):
        words = part.strip().split()
        if not words or len(words) > 2:
            raise QueryParseError(f"Syntax error in order '{order}'")
        desc = len(words) == 2 and words[1].upper() == "DESC"
        if len(words) == 2 and words[1].upper() not in ("ASC", "DESC"):
            raise QueryParseError(f"Syntax error in order '{order}'")
        path = words[0].split(".")
        if fields is not None and path[0].lower() not in fields:
            raise QueryParseError(f"No property or field '{path[0]}' exists in type '{type_name}'")
        keys.append((path, desc))
    out = list(items)
    for path, desc in reversed(keys):

        def sort_key(o: dict[str, Any], path: list[str] = path) -> tuple[int, Any]:
            try:
                v = lookup(o, path)
            except KeyError:
                v = None
            if v is None:
                return (0, "")
            if isinstance(v, str) and v.startswith("/Date("):
                try:
                    return (1, parse_datetime(v).timestamp())
                except DateFormatError:
                    pass
            if isinstance(v, bool):
                return (1, int(v))
            if isinstance(v, (int, float)):
                return (1, float(v))
            return (1, str(v).lower())

        out.sort(key=sort_key, reverse=desc)
    return out
