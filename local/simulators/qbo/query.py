"""The QBO query language: parse `SELECT ... FROM Entity ...` and evaluate it over stored dicts.

Grammar from developer.intuit.com .../data-queries (PROVIDERS.md 1.3): `SELECT *|COUNT(*)
FROM Entity [WHERE p op v [AND ...]] [ORDERBY p [ASC|DESC]] [STARTPOSITION n]
[MAXRESULTS n]`; ops `= < > <= >= IN LIKE`, and `!=`, which the data-queries page does not list
but the real API takes (python-quickbooks' own end-to-end tests, run against a sandbox, query
`FullyQualifiedName != 'Accounts Receivable (A/R)'`: tests/integration/test_transfer.py); no OR,
JOIN, GROUP BY; `<>` stays a parser error (U). String comparison with `=`, `!=` and `IN` ignores
case (the same tests find the account "Checking" with `Name = 'checking'`:
tests/integration/test_refundreceipt.py), as LIKE does. python-quickbooks
(`mixins.ListMixin.all`) sends `ORDER BY` with a space and `SELECT *, Sku FROM Item`, so both
are accepted. A `'` inside a literal is written `\\'` (python-quickbooks
`utils.build_where_clause`).
Curly quotes are not quotes (mcohen01/node-quickbooks #56) and fail the tokenizer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import query_invalid, query_parse

MAX_RESULTS = 1000
DEFAULT_MAX_RESULTS = 100

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:\\.|[^'\\])*')
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),*])
    | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)

_KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "IN",
    "LIKE",
    "ORDERBY",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
    "STARTPOSITION",
    "MAXRESULTS",
    "COUNT",
    "NOT",
    "JOIN",
    "GROUP",
}


@dataclass
class Token:
    kind: str  # str | num | op | punct | word
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


@dataclass
class Condition:
    field: str
    op: str  # = != < > <= >= IN LIKE
    values: list[Any]


@dataclass
class Query:
    entity: str
    count: bool = False
    fields: list[str] = field(default_factory=list)  # empty means every field
    where: list[Condition] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    start: int = 1
    max_results: int = DEFAULT_MAX_RESULTS


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    text = text.rstrip().rstrip(";")
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            col = pos + 1
            raise query_parse(f'Encountered " "{text[pos]}" " at line 1, column {col}.')
        kind = m.lastgroup or "word"
        tokens.append(Token(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return tokens


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    def peek(self) -> Token | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def fail(self, tok: Token | None = None) -> Exception:
        tok = tok or self.peek()
        if tok is None:
            return query_parse(f'Encountered "<EOF>" at line 1, column {len(self.text) + 1}.')
        return query_parse(f'Encountered " "{tok.text}" " at line 1, column {tok.pos + 1}.')

    def next(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise self.fail()
        self.i += 1
        return tok

    def expect_kw(self, kw: str) -> None:
        tok = self.next()
        if tok.kind != "word" or tok.upper != kw:
            raise self.fail(tok)

    def at_kw(self, *kws: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "word" and tok.upper in kws

    def expect_punct(self, p: str) -> None:
        tok = self.next()
        if tok.text != p:
            raise self.fail(tok)

    def field_name(self) -> str:
        tok = self.next()
        if tok.kind != "word" or tok.upper in _KEYWORDS:
            raise self.fail(tok)
        return tok.text

    def int_value(self) -> int:
        tok = self.next()
        if tok.kind != "num" or "." in tok.text:
            raise self.fail(tok)
        return int(tok.text)

    def value(self) -> Any:
        tok = self.next()
        if tok.kind == "str":
            return _unquote(tok.text)
        if tok.kind == "num":
            return Decimal(tok.text)
        if tok.kind == "word" and tok.upper in ("TRUE", "FALSE"):
            return tok.upper == "TRUE"
        raise self.fail(tok)

    def parse(self) -> Query:
        self.expect_kw("SELECT")
        count = False
        fields: list[str] = []
        if self.at_kw("COUNT"):
            self.next()
            self.expect_punct("(")
            self.expect_punct("*")
            self.expect_punct(")")
            count = True
        else:
            star = False
            while True:
                tok = self.peek()
                if tok is not None and tok.text == "*":
                    self.next()
                    star = True
                else:
                    fields.append(self.field_name())
                if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                    self.next()
                    continue
                break
            if star:
                fields = []  # `*, Sku` is every field
        self.expect_kw("FROM")
        tok = self.next()
        if tok.kind != "word" or tok.upper in _KEYWORDS:
            raise self.fail(tok)
        q = Query(entity=tok.text, count=count, fields=fields)
        if self.at_kw("WHERE"):
            self.next()
            q.where.append(self.condition())
            while self.at_kw("AND", "OR"):
                tok = self.next()
                if tok.upper == "OR":
                    raise self.fail(tok)
                q.where.append(self.condition())
        if self.at_kw("ORDERBY", "ORDER"):
            tok = self.next()
            if tok.upper == "ORDER":
                self.expect_kw("BY")
            while True:
                name = self.field_name()
                desc = False
                if self.at_kw("ASC", "DESC"):
                    desc = self.next().upper == "DESC"
                q.order.append((name, desc))
                if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                    self.next()
                    continue
                break
        if self.at_kw("STARTPOSITION"):
            self.next()
            q.start = max(1, self.int_value())
        if self.at_kw("MAXRESULTS"):
            self.next()
            q.max_results = min(MAX_RESULTS, max(0, self.int_value()))
        if self.peek() is not None:
            raise self.fail()
        return q

    def condition(self) -> Condition:
        name = self.field_name()
        tok = self.next()
        if tok.kind == "op":
            if tok.text == "<>":
                raise self.fail(tok)
            return Condition(name, tok.text, [self.value()])
        if tok.kind == "word" and tok.upper == "LIKE":
            v = self.value()
            if not isinstance(v, str):
                raise self.fail()
            return Condition(name, "LIKE", [v])
        if tok.kind == "word" and tok.upper == "IN":
            self.expect_punct("(")
            values = [self.value()]
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.next()
                values.append(self.value())
            self.expect_punct(")")
            return Condition(name, "IN", values)
        raise self.fail(tok)


def parse(text: str) -> Query:
    if not text or not text.strip():
        raise query_parse('Encountered "<EOF>" at line 1, column 1.')
    return _Parser(text).parse()


# ---------------------------------------------------------------- evaluation


def get_path(obj: dict[str, Any], path: str) -> Any:
    cur: Any = obj
    for part in path.split("."):
        if isinstance(cur, dict):
            # property names are case-insensitive in the real parser; stored keys are canonical
            if part in cur:
                cur = cur[part]
            else:
                low = part.lower()
                cur = next((v for k, v in cur.items() if k.lower() == low), None)
        else:
            return None
        if cur is None:
            return None
    if isinstance(cur, dict) and "value" in cur:  # CustomerRef = '1' compares the ref value
        return cur["value"]
    return cur


def _as_datetime(v: Any) -> datetime | None:
    if not isinstance(v, str) or len(v) < 10:
        return None
    try:
        d = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None
    return d


def _coerce(stored: Any, literal: Any) -> tuple[Any, Any] | None:
    """Bring a stored value and a literal to one comparable type, or None."""
    if stored is None:
        return None
    if isinstance(stored, bool) or isinstance(literal, bool):
        sv = stored if isinstance(stored, bool) else str(stored).lower() == "true"
        lv = literal if isinstance(literal, bool) else str(literal).lower() == "true"
        return sv, lv
    if isinstance(stored, int | float | Decimal) or isinstance(literal, Decimal):
        try:
            return Decimal(str(stored)), Decimal(str(literal))
        except InvalidOperation:
            return str(stored), str(literal)
    sd, ld = _as_datetime(stored), _as_datetime(literal)
    if sd is not None and ld is not None:
        if len(str(stored)) == 10 or len(str(literal)) == 10:
            return sd.date(), ld.date()
        if sd.tzinfo is None or ld.tzinfo is None:
            return sd.replace(tzinfo=None), ld.replace(tzinfo=None)
        return sd, ld
    if str(stored).isdigit() and str(literal).isdigit():  # Ids are numeric strings
        return int(str(stored)), int(str(literal))
    return str(stored), str(literal)


def _like(stored: Any, pattern: str) -> bool:
    if stored is None:
        return False
    rx = "".join(".*" if ch == "%" else re.escape(ch) for ch in pattern)
    return re.fullmatch(rx, str(stored), re.DOTALL | re.IGNORECASE) is not None


def _equal(a: Any, b: Any) -> bool:
    """Equality as the query language has it: strings without regard to case."""
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    return bool(a == b)


def matches(obj: dict[str, Any], cond: Condition) -> bool:
    stored = get_path(obj, cond.field)
    if cond.op == "LIKE":
        return _like(stored, cond.values[0])
    if cond.op == "IN":
        for v in cond.values:
            pair = _coerce(stored, v)
            if pair is not None and _equal(*pair):
                return True
        return False
    pair = _coerce(stored, cond.values[0])
    if pair is None:
        return False  # a field the object lacks matches no comparison, `!=` included (U)
    a, b = pair
    try:
        if cond.op == "=":
            return _equal(a, b)
        if cond.op == "!=":
            return not _equal(a, b)
        if cond.op == "<":
            return bool(a < b)
        if cond.op == ">":
            return bool(a > b)
        if cond.op == "<=":
            return bool(a <= b)
        if cond.op == ">=":
            return bool(a >= b)
    except TypeError:
        return False
    return False


def _sort_key(obj: dict[str, Any], name: str) -> tuple[int, Any]:
    v = get_path(obj, name)
    if v is None:
        return (0, "")
    if isinstance(v, bool):
        return (1, int(v))
    if isinstance(v, int | float | Decimal):
        return (1, Decimal(str(v)))
    s = str(v)
    if s.isdigit():
        return (1, Decimal(s))
    d = _as_datetime(s)
    if d is not None and d.tzinfo is not None:
        return (2, d.timestamp())
    return (3, s.lower())


def _id_order(obj: dict[str, Any]) -> tuple[int, Any]:
    """Default order: ascending Id, with the non-numeric system Ids (a US company's TaxCodes
    TAX, NON and CustomSalesTax) first, as Intuit's TaxCode query sample lists them
    (developer.intuit.com TaxCode entity reference, "Query a taxcode")."""
    v = str(obj.get("Id", ""))
    return (1, int(v)) if v.isdigit() else (0, 0)


def evaluate(q: Query, objects: list[dict[str, Any]], has_active: bool) -> dict[str, Any]:
    """Run a parsed query over one entity's objects; return the QueryResponse body."""
    rows = list(objects)
    mentions_active = any(c.field.lower() == "active" for c in q.where)
    if has_active and not mentions_active:
        # Inactive list entities are hidden unless the query names Active (QBO docs:
        # "WHERE Active IN (true, false)" to see both).
        rows = [o for o in rows if o.get("Active", True) is not False]
    for cond in q.where:
        rows = [o for o in rows if matches(o, cond)]
    if q.count:
        return {"totalCount": len(rows)}
    rows.sort(key=_id_order)
    for name, desc in reversed(q.order):
        rows.sort(key=lambda o, n=name: _sort_key(o, n), reverse=desc)  # type: ignore[misc]
    page = rows[q.start - 1 : q.start - 1 + q.max_results]
    if not page:
        return {}
    if q.fields:
        wanted = {f.split(".")[0].lower() for f in q.fields} | {"id"}
        page = [{k: v for k, v in o.items() if k.lower() in wanted} for o in page]
    return {q.entity: page, "startPosition": q.start, "maxResults": len(page)}


def check_entity(q: Query, known: set[str]) -> None:
    if q.entity not in known:
        raise query_invalid(f"Entity '{q.entity}' is not supported or not queryable")
