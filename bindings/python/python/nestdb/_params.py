"""Positional SQL parameters (``$1``, ``$2``, ...) bound on the Python side.

The engine's SQL entry point takes text only, so :func:`bind` replaces each placeholder with a
SQL literal: ``NULL``, ``TRUE``/``FALSE``, a number, a quoted string (quotes doubled), or a
vector literal ``'[x, y, ...]'`` (pgvector's text form) for a 1-d array or list of numbers.
Placeholders inside string literals, quoted identifiers and comments are left alone.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["bind", "literal"]


def _float(x: Any) -> str:
    f = float(x)
    if not math.isfinite(f):
        raise ValueError(f"SQL parameter: non-finite number {f!r}")
    return repr(f)


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def literal(value: Any) -> str:
    """The SQL literal for one parameter value."""
    if value is None:
        return "NULL"
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return _float(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, (_dt.datetime, _dt.date)):
        return _quote(value.isoformat(sep=" ") if isinstance(value, _dt.datetime) else value.isoformat())
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError("SQL parameter: binary values are not supported")
    if hasattr(value, "to_numpy") and not isinstance(value, np.ndarray):
        value = value.to_numpy(zero_copy_only=False)
    if isinstance(value, (np.ndarray, list, tuple)):
        arr = np.asarray(value, dtype=np.float64)
        if arr.ndim != 1:
            raise ValueError(f"SQL parameter: a vector must be 1-d, got shape {arr.shape}")
        return "'[" + ", ".join(_float(x) for x in arr) + "]'"
    raise TypeError(f"SQL parameter: unsupported type {type(value).__name__}")


def _skip_quoted(sql: str, i: int, q: str) -> int:
    """Index just past the literal or identifier opened by quote ``q`` at ``i``."""
    j = i + 1
    n = len(sql)
    while j < n:
        if sql[j] == q:
            if j + 1 < n and sql[j + 1] == q:
                j += 2
                continue
            return j + 1
        j += 1
    return n


def bind(sql: str, params: Sequence[Any]) -> str:
    """Replaces ``$1`` .. ``$n`` in ``sql`` with the literals of ``params[0]`` .. ``params[n-1]``."""
    if isinstance(params, (str, bytes)) or not isinstance(params, Sequence):
        raise TypeError("params must be a list or tuple")
    out: list[str] = []
    i = 0
    n = len(sql)
    while i < n:
        c = sql[i]
        if c in ("'", '"'):
            j = _skip_quoted(sql, i, c)
            out.append(sql[i:j])
            i = j
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(sql[i:j])
            i = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(sql[i:j])
            i = j
        elif (
            c == "$"
            and i + 1 < n
            and sql[i + 1].isdigit()
            and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_"))
        ):
            j = i + 1
            while j < n and sql[j].isdigit():
                j += 1
            k = int(sql[i + 1 : j])
            if k < 1 or k > len(params):
                raise IndexError(f"SQL parameter ${k} is not given ({len(params)} parameters)")
            out.append(literal(params[k - 1]))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)
