"""Loads the named SQL blocks of queries.sql once, choosing each block's dialect form."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from sqlalchemy import TextClause, text

_HEADER = re.compile(r"^-- (?P<name>[a-z_]+)(?:\[(?P<dialect>[a-z]+)\])? --$", re.MULTILINE)


@cache
def _blocks() -> dict[tuple[str, str | None], str]:
    source = Path(__file__).with_name("queries.sql").read_text()
    headers = list(_HEADER.finditer(source))
    blocks: dict[tuple[str, str | None], str] = {}
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        body = source[header.end() : following.start() if following else len(source)]
        lines = [line for line in body.splitlines() if not line.lstrip().startswith("--")]
        blocks[(header["name"], header["dialect"])] = "\n".join(lines).strip()
    return blocks


@cache
def query(name: str, dialect: str) -> TextClause:
    blocks = _blocks()
    sql = blocks.get((name, dialect)) or blocks.get((name, None))
    if sql is None:
        raise KeyError(f"no SQL block named {name!r} for {dialect}")
    return text(sql)
