"""Splitting SQL text into statements, for migrations that must run statement by statement."""

from __future__ import annotations

import re


def split_statements(sql: str) -> list[str]:
    """Split SQL into statements on top-level semicolons.

    Knows quotes ('...', E'...', "..."), dollar quoting ($$...$$, $tag$...$tag$) and comments (--, nested
    /* */), which is all our migration files use. Only needed for no-transaction files: a multi-statement
    simple query runs as one implicit transaction, so those statements must be sent one at a time.
    """
    statements: list[str] = []
    start = 0
    i = 0
    n = len(sql)
    while i < n:
        c = sql[i]
        if c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif c == "/" and sql.startswith("/*", i):
            depth = 1
            i += 2
            while i < n and depth:
                if sql.startswith("/*", i):
                    depth += 1
                    i += 2
                elif sql.startswith("*/", i):
                    depth -= 1
                    i += 2
                else:
                    i += 1
        elif c in ("'", '"'):
            # Only E'...' strings treat a backslash as an escape (standard_conforming_strings is on).
            escapes = c == "'" and i > 0 and sql[i - 1] in "eE" and not (i > 1 and _is_word(sql[i - 2]))
            i += 1
            while i < n:
                if sql[i] == c:
                    if i + 1 < n and sql[i + 1] == c:  # a doubled quote stands for itself
                        i += 2
                        continue
                    break
                i += 2 if escapes and sql[i] == "\\" else 1
            i += 1
        elif c == "$":
            tag = re.match(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$", sql[i:])
            # $1-style parameters and identifiers containing $ are not dollar quotes.
            if tag is not None and not (i > 0 and _is_word(sql[i - 1])):
                end = sql.find(tag.group(0), i + len(tag.group(0)))
                i = n if end < 0 else end + len(tag.group(0))
            else:
                i += 1
        elif c == ";":
            statements.append(sql[start:i])
            start = i + 1
            i += 1
        else:
            i += 1
    statements.append(sql[start:])
    return [s.strip() for s in statements if _has_code(s)]


def _is_word(char: str) -> bool:
    return char.isalnum() or char in "_$"


def _has_code(statement: str) -> bool:
    """True unless the fragment is only whitespace and comments."""
    without_line_comments = re.sub(r"--[^\n]*", "", statement)
    without_comments = re.sub(r"/\*.*?\*/", "", without_line_comments, flags=re.DOTALL)
    return bool(without_comments.strip())
