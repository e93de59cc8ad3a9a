"""The two SQL dialects: where SQLite's JSON1 and PostgreSQL's jsonb spell the same query apart.

Each dialect implements the JSON-field predicates and sort keys of `homeport.store.sql.query`;
the comparison against `homeport.core.query` lives in the conformance suite.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from homeport.store.sql.query import (
    Dialect,
    Field,
    Frag,
    all_of,
    any_of,
    is_number,
    is_scalar,
    join,
    like_parts,
    sql_number,
)

_SIMPLE_KEY = re.compile(r'^[^"\\]*$')

SQLITE_RANK = (
    "(CASE {t} WHEN 'text' THEN 1 WHEN 'integer' THEN 2 WHEN 'real' THEN 2 WHEN 'true' THEN 3"
    " WHEN 'false' THEN 3 WHEN 'array' THEN 4 WHEN 'object' THEN 5 ELSE 9 END)"
)


class SQLiteDialect(Dialect):
    """SQLite's JSON1: ``json_type`` names the type (NULL when missing), ``json_extract`` reads.

    Keys SQLite's path syntax cannot spell (``"`` or ``\\`` in them) go through ``hp_sub``, a
    Python function registered on the connection, as does ``like`` (``hp_like``: SQLite's LIKE
    only folds ASCII case) so both match the Python reference exactly.
    """

    name = "sqlite"
    greatest = "MAX"

    def in_list(self, column: str, values: Sequence[Any]) -> Frag:
        return Frag(f"{column} IN (SELECT value FROM json_each(?))", (self.dump(list(values)),))

    def pairs_in(self, columns: tuple[str, str], pairs: Sequence[tuple[str, str]]) -> Frag:
        a, b = columns
        return Frag(
            f"({a}, {b}) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]')"
            " FROM json_each(?))",
            (self.dump([list(p) for p in pairs]),),
        )

    def prefix(self, column: str, prefix: str) -> Frag:
        return Frag(
            f"({column} >= ? AND substr({column}, 1, ?) = ?)", (prefix, len(prefix), prefix)
        )

    def _doc(self, f: Field) -> Frag:
        """``doc, path`` arguments for json_type/json_extract/json_each."""
        if all(_SIMPLE_KEY.match(p) for p in f.path):
            return Frag("data, ?", ("$" + "".join(f'."{p}"' for p in f.path),))
        return Frag("hp_sub(data, ?), '$'", (self.dump(list(f.path)),))

    def _t(self, f: Field) -> Frag:
        return "json_type(" + self._doc(f) + ")"

    def _v(self, f: Field) -> Frag:
        return "json_extract(" + self._doc(f) + ")"

    def is_missing(self, f: Field) -> Frag:
        return "(" + self._t(f) + " IS NULL)"

    def _value_eq(self, t: Frag, v: Frag, target: Any) -> Frag:
        if target is None:
            return "(" + t + " = 'null')"
        if isinstance(target, bool):
            return "(" + t + (" = 'true')" if target else " = 'false')")
        if isinstance(target, str):
            return "(" + t + " = 'text' AND " + v + Frag(" = ?)", (target,))
        if is_number(target):
            return (
                "(" + t + " IN ('integer', 'real') AND " + v + Frag(" = ?)", (sql_number(target),))
            )
        kind = "array" if isinstance(target, list) else "object"
        return "(" + t + f" = '{kind}' AND hp_jeq(" + v + Frag(", ?))", (self.dump(target),))

    def eq(self, f: Field, value: Any) -> Frag:
        return self._value_eq(self._t(f), self._v(f), value)

    def compare(self, f: Field, sql_op: str, value: str | int | float) -> Frag:
        types = "('text')" if isinstance(value, str) else "('integer', 'real')"
        return "(" + self._t(f) + f" IN {types} AND " + self._v(f) + Frag(f" {sql_op} ?)", (value,))

    def like(self, f: Field, pattern: str) -> Frag:
        return (
            "("
            + self._t(f)
            + " = 'text' AND "
            + Frag("hp_like(?, ", (pattern,))
            + self._v(f)
            + "))"
        )

    def like_column(self, column: str, pattern: str) -> Frag:
        return Frag(f"hp_like(?, {column})", (pattern,))

    def contains(self, f: Field, values: Sequence[Any], any_: bool) -> Frag:
        et, ev = Frag("e.type"), Frag("e.value")

        def has(target: Any) -> Frag:
            return (
                "EXISTS (SELECT 1 FROM json_each("
                + self._doc(f)
                + ") AS e WHERE "
                + self._value_eq(et, ev, target)
                + ")"
            )

        members = [has(t) for t in values]
        return "(" + self._t(f) + " = 'array' AND " + (any_of if any_ else all_of)(members) + ")"

    def sort_keys(self, f: Field) -> list[Frag]:
        t, v = self._t(f), self._v(f)
        rank = Frag(SQLITE_RANK.format(t=t.sql), t.params)
        value = (
            "(CASE WHEN "
            + t
            + " IN ('array', 'object') THEN hp_canon("
            + v
            + ") ELSE "
            + v
            + " END)"
        )
        return [rank, value]


_PG_INDEX = re.compile(r"^\s*[+-]?\d+\s*$")

PG_RANK = (
    "(CASE jsonb_typeof({j}) WHEN 'string' THEN 1 WHEN 'number' THEN 2 WHEN 'boolean' THEN 3"
    " WHEN 'array' THEN 4 WHEN 'object' THEN 5 ELSE 9 END)"
)


def pg_like_regex(pattern: str) -> str:
    """``like`` as a PostgreSQL regex with explicit case classes (``[eE]``), not ILIKE.

    ILIKE folds case by the database locale, which under ``C`` is ASCII only; Python folds all
    of Unicode. Spelling out each character's case variants matches the reference everywhere.
    As in `homeport.core.query.like_regex`: a substring match without ``*``, anchored at both
    ends with it.
    """
    out: list[str] = []
    for part in like_parts(pattern):
        chars = []
        for ch in part:
            variants = sorted(
                {v for v in (ch, ch.lower(), ch.upper(), ch.swapcase()) if len(v) == 1}
            )
            if len(variants) > 1:
                chars.append("[" + "".join(variants) + "]")
            else:
                chars.append(ch if ch.isalnum() or ch == " " else "\\" + ch)
        out.append("".join(chars))
    if len(out) == 1:
        return out[0]
    return "^" + ".*".join(out) + "$"


class PostgresDialect(Dialect):
    """PostgreSQL ``jsonb``: ``#>`` reads a path (SQL NULL when missing), ``jsonb_typeof`` types.

    Text is compared ``COLLATE "C"`` (code point order, like Python); ``#>`` would index into an
    array for a numeric path segment, so such segments are guarded to apply to objects only.
    """

    name = "postgresql"
    greatest = "GREATEST"
    json_cast = "::jsonb"
    for_update = " FOR UPDATE"

    def q(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def load(self, raw: Any) -> Any:
        return raw if not isinstance(raw, (str, bytes)) else json.loads(raw)

    def in_list(self, column: str, values: Sequence[Any]) -> Frag:
        return Frag(f"{column} = ANY(?::text[])", (list(values),))

    def pairs_in(self, columns: tuple[str, str], pairs: Sequence[tuple[str, str]]) -> Frag:
        a, b = columns
        return Frag(
            f"({a}, {b}) IN (SELECT * FROM unnest(?::text[], ?::text[]))",
            ([p[0] for p in pairs], [p[1] for p in pairs]),
        )

    def prefix(self, column: str, prefix: str) -> Frag:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return Frag(f"({column} LIKE ?)", (escaped + "%",))

    def _j(self, f: Field) -> Frag:
        path = list(f.path)
        expr = Frag("(data #> ?::text[])", (path,))
        guards = [
            Frag("jsonb_typeof(data #> ?::text[]) = 'object'", (path[:i],))
            for i in range(1, len(path))
            if _PG_INDEX.match(path[i])
        ]
        if not guards:
            return expr
        return "(CASE WHEN " + join(" AND ", guards) + " THEN " + expr + " END)"

    def is_missing(self, f: Field) -> Frag:
        return "(" + self._j(f) + " IS NULL)"

    def eq(self, f: Field, value: Any) -> Frag:
        return "(" + self._j(f) + Frag(" = ?::jsonb)", (self.dump(value),))

    def compare(self, f: Field, sql_op: str, value: str | int | float) -> Frag:
        j = self._j(f)
        if isinstance(value, str):
            return (
                "(jsonb_typeof("
                + j
                + ") = 'string' AND ("
                + j
                + Frag(f" #>> '{{}}') COLLATE \"C\" {sql_op} ?)", (value,))
            )
        return (
            "(jsonb_typeof("
            + j
            + ") = 'number' AND "
            + j
            + Frag(f" {sql_op} ?::jsonb)", (self.dump(value),))
        )

    def like(self, f: Field, pattern: str) -> Frag:
        j = self._j(f)
        return (
            "(jsonb_typeof("
            + j
            + ") = 'string' AND ("
            + j
            + Frag(" #>> '{}') ~ ?)", (pg_like_regex(pattern),))
        )

    def like_column(self, column: str, pattern: str) -> Frag:
        return Frag(f"({column} ~ ?)", (pg_like_regex(pattern),))

    def contains(self, f: Field, values: Sequence[Any], any_: bool) -> Frag:
        j = self._j(f)

        def has(target: Any) -> Frag:
            if is_scalar(target):
                return "(" + j + Frag(" @> ?::jsonb)", (self.dump([target]),))
            return (
                "EXISTS (SELECT 1 FROM jsonb_array_elements("
                + j
                + Frag(") AS e WHERE e = ?::jsonb)", (self.dump(target),))
            )

        members = [has(t) for t in values]
        return (
            "(jsonb_typeof(" + j + ") = 'array' AND " + (any_of if any_ else all_of)(members) + ")"
        )

    def sort_keys(self, f: Field) -> list[Frag]:
        j = self._j(f)
        rank = Frag(PG_RANK.format(j=j.sql), j.params)
        text = "(CASE WHEN jsonb_typeof(" + j + ") = 'string' THEN " + j + " #>> '{}' END)"
        # Arrays and objects by their text, as the reference orders them by their JSON dump;
        # jsonb's own order would compare lengths first.
        composite = "(CASE WHEN jsonb_typeof(" + j + ") IN ('array', 'object') THEN " + j
        composite = composite + "::text END)"
        scalar = "(CASE WHEN jsonb_typeof(" + j + ") IN ('number', 'boolean') THEN " + j + " END)"
        return [rank, text + ' COLLATE "C"', composite + ' COLLATE "C"', scalar]


SQLITE = SQLiteDialect()
POSTGRES = PostgresDialect()
