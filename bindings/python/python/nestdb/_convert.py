"""Python values to Arrow, without copies where the layout allows it.

* numpy 1-d numeric arrays become Arrow arrays over the same memory (``pa.array``);
* a 2-d float array becomes a ``FixedSizeList`` column over the same memory
  (``pa.FixedSizeListArray.from_arrays(pa.array(a.reshape(-1)), d)``, no copy when the array
  is C-contiguous);
* query vectors stay numpy float32 arrays, which the native module reads in place.

Anything else (lists, dicts of lists, lists of dicts, other dtypes) is converted once by
pyarrow, with the table's column types as hints, so no per-value Python work remains for the
engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from ._nestdb import InputError

__all__ = ["rows", "query_vector", "query_matrix", "id_array", "column"]

_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))

TEXT_QUERY_MESSAGE = (
    "text queries are not supported by Table.search yet; pass a vector, or embed the text "
    "in SQL: db.sql(\"SELECT ... ORDER BY embedding <=> embed('model', 'text') LIMIT 10\")"
)


def _is_vector_type(t: pa.DataType) -> bool:
    return pa.types.is_fixed_size_list(t)


def _hint(field: pa.Field | None) -> pa.DataType | None:
    """The type to convert Python values of a column to (vectors as variable lists, so the
    engine reports a wrong dimension with its row)."""
    if field is None:
        return None
    if _is_vector_type(field.type):
        return pa.list_(pa.float32())
    return field.type


def _matrix(a: np.ndarray) -> pa.FixedSizeListArray:
    if a.dtype not in _FLOATS:
        a = a.astype(np.float32)
    a = np.ascontiguousarray(a)  # no copy if already C-contiguous
    return pa.FixedSizeListArray.from_arrays(pa.array(a.reshape(-1)), a.shape[1])


def column(name: str, value: Any, field: pa.Field | None) -> pa.Array | pa.ChunkedArray:
    """One column of a dict of columns as Arrow."""
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        return value
    is_vector = field is not None and _is_vector_type(field.type)
    if isinstance(value, np.ndarray):
        if value.ndim == 2:
            return _matrix(value)
        if value.ndim == 1:
            if value.dtype == object and is_vector:
                try:
                    stacked = np.stack([np.asarray(v, dtype=np.float32) for v in value])
                except ValueError:  # ragged: let the engine name the bad row
                    return pa.array(list(value), type=_hint(field))
                return _matrix(stacked)
            if value.dtype == object:
                return pa.array(value, type=_hint(field), from_pandas=True)
            return pa.array(value)  # zero-copy for numeric dtypes
        raise InputError(f'column "{name}": expected a 1-d or 2-d array, got {value.ndim} dimensions')
    if is_vector and isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        try:
            stacked = np.asarray(value, dtype=np.float32)
        except (ValueError, TypeError):
            stacked = None
        if stacked is not None and stacked.ndim == 2:
            return _matrix(stacked)
    hint = _hint(field)
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes, Sequence)):
        value = list(value)
    return pa.array(value, type=hint) if hint is not None else pa.array(value)


def _single_batch(t: pa.Table) -> pa.RecordBatch:
    t = t.combine_chunks()  # no copy when every column has one chunk
    batches = t.to_batches()
    if len(batches) == 1:
        return batches[0]
    if not batches:
        return pa.RecordBatch.from_pylist([], schema=t.schema)
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def rows(data: Any, schema: Callable[[], pa.Schema]) -> Any:
    """``data`` as something the native module imports through the Arrow C interface.

    ``schema`` returns the table's schema (called only when Python values need type hints).
    A pyarrow Table becomes one RecordBatch, so the write is atomic.
    """
    if isinstance(data, pa.RecordBatch):
        return data
    if isinstance(data, pa.Table):
        return _single_batch(data)
    if isinstance(data, pa.RecordBatchReader):
        return data
    if isinstance(data, Mapping):
        fields = {f.name: f for f in schema()}
        try:
            cols = {str(k): column(str(k), v, fields.get(str(k))) for k, v in data.items()}
            return _single_batch(pa.table(cols))
        except (pa.ArrowException, ValueError, OverflowError) as e:
            raise InputError(f"cannot convert the columns to Arrow: {e}") from e
    if hasattr(data, "__arrow_c_array__") or hasattr(data, "__arrow_c_stream__"):
        return data
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        if not all(isinstance(r, Mapping) for r in data):
            raise TypeError("a list of rows must hold dicts (column name -> value)")
        keys: dict[str, None] = {}
        for r in data:
            for k in r:
                keys.setdefault(str(k), None)
        fields = {f.name: f for f in schema()}
        try:
            if all(k in fields for k in keys):
                hinted = pa.schema([pa.field(k, _hint(fields[k])) for k in keys])
                t = pa.Table.from_pylist(list(data), schema=hinted)
            else:  # the engine names the unknown column
                t = pa.Table.from_pylist(list(data))
            return _single_batch(t)
        except (pa.ArrowException, ValueError, TypeError, OverflowError) as e:
            raise InputError(f"cannot convert the rows to Arrow: {e}") from e
    raise TypeError(
        "data must be a pyarrow Table/RecordBatch (or any Arrow C stream/array), a dict of "
        f"columns, or a list of dicts; got {type(data).__name__}"
    )


def query_vector(query: Any) -> np.ndarray:
    """One query as a C-contiguous float32 numpy vector (the input itself when it already is)."""
    if isinstance(query, str):
        raise TypeError(TEXT_QUERY_MESSAGE)
    if isinstance(query, (pa.Array, pa.ChunkedArray)):
        query = query.to_numpy(zero_copy_only=False)
    a = np.ascontiguousarray(query, dtype=np.float32)
    if a.ndim == 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 1:
        raise ValueError(f"a query must be a 1-d vector, got shape {a.shape} (use search_batch)")
    return a


def query_matrix(queries: Any) -> np.ndarray:
    """Queries as a C-contiguous 2-d float32 numpy array."""
    if isinstance(queries, str):
        raise TypeError(TEXT_QUERY_MESSAGE)
    if isinstance(queries, pa.FixedSizeListArray):
        queries = queries.flatten().to_numpy(zero_copy_only=False).reshape(len(queries), -1)
    a = np.ascontiguousarray(queries, dtype=np.float32)
    if a.ndim == 1:
        a = a.reshape(1, -1)
    if a.ndim != 2:
        raise ValueError(f"queries must be a 2-d array (one row per query), got shape {a.shape}")
    return a


def id_array(ids: Any) -> pa.Array:
    """Row ids as an Arrow int64 array (no copy for a contiguous int64 numpy array)."""
    if isinstance(ids, (int, np.integer)) and not isinstance(ids, (bool, np.bool_)):
        ids = [int(ids)]
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    if not isinstance(ids, pa.Array):
        a = np.asarray(ids)
        if a.size == 0:
            return pa.array([], type=pa.int64())
        if a.ndim != 1 or a.dtype.kind not in "iu":
            raise TypeError(f"ids must be a 1-d sequence of integers, got dtype {a.dtype} and shape {a.shape}")
        ids = pa.array(a)
    if not pa.types.is_integer(ids.type):
        raise TypeError(f"ids must be integers, got {ids.type}")
    if ids.type != pa.int64():
        try:
            ids = ids.cast(pa.int64())
        except pa.ArrowInvalid as e:
            raise InputError(f"ids out of range: {e}") from e
    return ids
