"""nestdb: an embedded vector database with learned indexing over Matryoshka embeddings.

Data goes in and out as Arrow, without copies where the layout allows: numpy float32 arrays
and pyarrow tables in, ``pyarrow.Table`` results out. Every engine call releases the GIL.
"""

import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__version__: str

class _ArrowArrayExportable(Protocol):
    def __arrow_c_array__(self, requested_schema: object | None = None) -> tuple[object, object]: ...

class _ArrowStreamExportable(Protocol):
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...

Rows = (
    pa.Table
    | pa.RecordBatch
    | pa.RecordBatchReader
    | _ArrowArrayExportable
    | _ArrowStreamExportable
    | Mapping[str, npt.ArrayLike | pa.Array | pa.ChunkedArray]
    | Sequence[Mapping[str, Any]]
)
"""Rows for :meth:`Table.add` / :meth:`Table.upsert`:

* a pyarrow ``Table``/``RecordBatch``/``RecordBatchReader``, or any object implementing the
  Arrow PyCapsule interface (``__arrow_c_array__`` / ``__arrow_c_stream__``: polars, pandas
  >= 2.2, duckdb, ...), imported without copying;
* a dict of columns: numpy arrays (1-d numeric arrays are shared, not copied; a 2-d float
  array ``(rows, dim)`` becomes the vector column, shared when C-contiguous), pyarrow arrays,
  or lists;
* a list of dicts, one per row (converted by ``pyarrow.Table.from_pylist``).

A pyarrow Table is written as one batch, so an add is all-or-nothing; a RecordBatchReader is
written batch by batch.
"""

VectorLike = npt.ArrayLike | pa.Array
"""A query vector: a 1-d numpy array (float32 C-contiguous arrays are read in place), a list
of floats, or a pyarrow array."""

class Error(Exception):
    """Base class of every nestdb error. The message is the engine's."""

class InputError(Error):
    """Rows were rejected (wrong type or dimension, NaN or infinity, zero vector under cosine,
    NULL or duplicate id, unknown column, invalid label). Nothing was written."""

class QueryError(Error):
    """A query or SQL statement cannot run as written: bad SQL, unknown column, query vector
    of the wrong dimension or with NaN, invalid setting or filter."""

class SchemaError(Error):
    """An invalid table schema (unsupported Arrow type, no or several vector columns, bad
    primary key, invalid Matryoshka bands)."""

class CatalogError(Error):
    """A catalog problem: a table name already in use, or an invalid name."""

class NotFoundError(CatalogError):
    """The table does not exist."""

class ModelError(Error):
    """An ONNX model is missing, broken or failed to run."""

class StorageError(Error):
    """The storage layer failed (I/O, corruption), or another internal error."""

def connect(
    path: str | os.PathLike[str] | None = None,
    *,
    sync: bool | None = None,
    auto_flush_rows: int | None = None,
    auto_index: bool | None = None,
    recall_sample_rate: float | None = None,
) -> Database:
    """Opens (creating if needed) the database in directory ``path``.

    Without a path the database lives in a new temporary directory, removed when the
    database is closed (``close()`` or the end of a ``with`` block) or garbage-collected
    (and at interpreter exit), like an in-memory SQLite or DuckDB database. Tables keep
    their database alive.

    Args:
        path: the database directory (created if missing).
        sync: fsync every acknowledged write (default: True; False for a temporary database).
        auto_flush_rows: flush a table's unflushed rows into a segment once this many
            accumulate (default 20,000).
        auto_index: fit the learned index automatically once a table is large enough
            (default True).
        recall_sample_rate: fraction of searches the live recall monitor re-runs exactly in
            the background (default 0, off; see ``Table.recall_report``).

    Only one process may open a directory at a time.
    """

class Database:
    """An open nestdb database: a directory holding tables. Usable as a context manager
    (``with nestdb.connect() as db: ...`` closes it)."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        sync: bool | None = None,
        auto_flush_rows: int | None = None,
        auto_index: bool | None = None,
        recall_sample_rate: float | None = None,
    ) -> None:
        """Same as :func:`connect`."""
    @property
    def path(self) -> str:
        """The database directory."""
    @property
    def temporary(self) -> bool:
        """Whether the directory is temporary (removed on close)."""
    @property
    def closed(self) -> bool:
        """Whether the database is closed. Any call on it or its tables then raises
        :class:`Error`."""
    def sql(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Runs one or more ``;``-separated SQL statements and returns the last one's result.

        Queries return their rows; statements that change something (CREATE, INSERT,
        DELETE, ...) return one row with columns ``command`` (string) and ``rows`` (int64).
        No statement at all gives an empty table.

        ``params`` fill the placeholders ``$1``, ``$2``, ... with SQL literals: None, bools,
        ints, finite floats, strings, dates, and 1-d arrays or lists of numbers (as vector
        literals ``'[x, y, ...]'``), e.g.
        ``db.sql("SELECT id FROM docs ORDER BY embedding <=> $1 LIMIT 5", [vec])``.

        Raises:
            QueryError: bad SQL (the message points at line and column) or a missing
                parameter.
        """
    def sql_reader(self, sql: str, params: Sequence[Any] | None = None) -> pa.RecordBatchReader:
        """Runs one query (``params`` as in :meth:`sql`) and returns a
        ``pyarrow.RecordBatchReader``: batches are computed as the reader is read, so a large
        scan is never collected in memory. Errors while reading raise from the reader."""
    def create_table(
        self,
        name: str,
        schema: pa.Schema | Sequence[pa.Field | tuple[str, pa.DataType]] | Mapping[str, pa.DataType],
        *,
        primary_key: str = "id",
        vector: str | None = None,
        bands: Sequence[int] | None = None,
        metric: str = "cosine",
        paths: str | Sequence[str] = (),
        options: Mapping[str, Any] | None = None,
    ) -> Table:
        """Creates a table from a pyarrow schema.

        Types: int8..int64 and uint8..uint32 become BIGINT; float16/32/64 DOUBLE;
        string/large_string TEXT, or PATH (hierarchical labels, filtered with ``<@``) when
        the column is listed in ``paths`` or its field metadata has ``nestdb.type: path``;
        bool BOOLEAN; timestamp (any unit) TIMESTAMP; ``fixed_size_list<float32>[d]``
        (or float16/float64 items) the VECTOR(d) column.

        Args:
            name: table name (letters, digits, ``_``).
            schema: the columns.
            primary_key: the BIGINT id column (default ``id``).
            vector: the vector column; by default the single fixed_size_list field.
            bands: Matryoshka boundaries below the dimension, e.g. ``[32, 64, 128, 256]``
                for 384 dims (default: 32, 64, 128, ... below the dimension).
            metric: ``cosine`` (default), ``l2`` or ``dot``.
            paths: columns holding hierarchical labels.
            options: table options: ``recall_target`` (default 0.95), ``rotation``
                (auto/on/off), ``partitions``, ``coarse_dims``, ``min_rows``,
                ``sample_queries``, ``seed`` (and ``metric``).

        Raises:
            SchemaError: an unsupported type, no or several vector columns, a bad primary key.
            CatalogError: the name is in use or invalid.
        """
    def open_table(self, name: str) -> Table:
        """Opens an existing table.

        Raises:
            NotFoundError: there is no such table.
        """
    def table_names(self) -> list[str]:
        """Names of all tables, sorted."""
    def drop_table(self, name: str) -> None:
        """Drops a table and its files.

        Raises:
            NotFoundError: there is no such table.
        """
    def close(self) -> None:
        """Closes the database (idempotent). A temporary directory is removed once no call
        is still running."""
    def __enter__(self) -> Database: ...
    def __exit__(self, *exc: object) -> None: ...
    def __contains__(self, name: object) -> bool:
        """Whether a table of that name exists."""

class Table:
    """A table of a :class:`Database`: writes, vector search and scans. Safe to use from
    several threads at once (one writer at a time inside; readers never block)."""

    @property
    def database(self) -> Database:
        """The database the table belongs to."""
    @property
    def name(self) -> str:
        """The table's name."""
    @property
    def schema(self) -> pa.Schema:
        """The table's columns as pyarrow types (the vector is
        ``fixed_size_list<float32>[dim]``; PATH columns carry ``nestdb.type: path``)."""
    @property
    def primary_key(self) -> str:
        """The primary-key column."""
    @property
    def vector_column(self) -> str:
        """The vector column."""
    @property
    def dim(self) -> int:
        """The vector dimension."""
    @property
    def metric(self) -> str:
        """The distance metric: ``cosine``, ``l2`` or ``dot``."""
    @property
    def maintenance_error(self) -> str | None:
        """The last failure of maintenance (automatic flush, compaction, index fit) after a
        write that itself succeeded, or None; the maintenance is retried by the next write."""
    @property
    def bands(self) -> list[int]:
        """The Matryoshka boundaries (band ends below the dimension)."""
    def count(self) -> int:
        """Live rows."""
    def recall_report(self) -> dict[str, Any]:
        """Live recall measured on sampled searches against the promise (SHOW RECALL)."""
    def set_recall_sampling(self, rate: float) -> None:
        """Samples this fraction of searches for live recall measurement (0: off)."""
    def __len__(self) -> int:
        """Live rows."""
    def add(self, data: Rows) -> int:
        """Inserts rows (durable and visible when this returns); returns how many.

        Raises:
            InputError: a bad row or an id that already exists; nothing was written.
        """
    def upsert(self, data: Rows) -> int:
        """Inserts rows, replacing rows with the same id; returns how many."""
    def delete(self, where: int | Sequence[int] | npt.NDArray[np.integer[Any]] | pa.Array | str) -> int:
        """Deletes rows by id, or every row matching a SQL condition such as
        ``"label <@ 'python' AND lang = 'go'"``; returns the rows deleted. Ids that do not
        exist are ignored."""
    def search(
        self,
        query: VectorLike,
        k: int = 10,
        *,
        filter: str | None = None,
        select: str | Sequence[str] | None = None,
        recall_target: float | None = None,
        exact: bool = False,
        nprobe: int | None = None,
        shortlist: int | Sequence[int] | None = None,
    ) -> pa.Table:
        """The ``k`` nearest rows to ``query``, nearest first.

        Returns the selected columns (default: all but the vector), ``_rowid`` (uint64) and
        ``_distance`` (float32: cosine distance ``1 - cos``, L2 distance, or the negative
        inner product). A filtered search returns ``k`` rows whenever ``k`` rows match.

        Args:
            query: a 1-d vector of the table's dimension. Text is not accepted yet (use
                :meth:`Database.sql` with ``embed(...)``).
            k: number of results.
            filter: a SQL condition: ``label <@ 'a/b'`` (subtree), ``label @> 'a/b/c'``
                (ancestors), ``=``, ``<``, ``IN``, ``LIKE``, ``IS NULL``, ``AND``/``OR``/``NOT``.
            select: columns to return besides ``_rowid`` and ``_distance``.
            recall_target: recall@k to aim for (default: the table's, 0.95).
            exact: scan every matching row at full dimension.
            nprobe: partitions to probe (overrides the tuned schedule).
            shortlist: candidates kept after each intermediate stage, exactly (overrides the
                tuned schedule, whose first shortlist may adapt to the query).

        Raises:
            TypeError: ``query`` is a string.
            QueryError: wrong dimension, NaN, unknown column, invalid filter or setting.
        """
    def search_ids(
        self,
        query: VectorLike,
        k: int = 10,
        *,
        filter: str | None = None,
        recall_target: float | None = None,
        exact: bool = False,
        nprobe: int | None = None,
        shortlist: int | Sequence[int] | None = None,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """The lean search: ``(ids, distances)`` of the ``k`` nearest rows as numpy arrays
        (int64 primary keys, float32 distances), nearest first, without building a table.
        Same options as :meth:`search` (no ``select``)."""
    def search_batch(
        self,
        queries: npt.ArrayLike | pa.FixedSizeListArray,
        k: int = 10,
        *,
        filter: str | None = None,
        select: str | Sequence[str] | None = None,
        recall_target: float | None = None,
        exact: bool = False,
        nprobe: int | None = None,
        shortlist: int | Sequence[int] | None = None,
    ) -> pa.Table:
        """Every row of ``queries`` (a 2-d float array) searched in parallel on all cores over
        one snapshot, with the GIL released. Same options as :meth:`search`. One table:
        ``_query`` (the query's row number), then the columns of :meth:`search`; each query's
        rows nearest first."""
    def explain(
        self,
        query: VectorLike,
        k: int = 10,
        *,
        filter: str | None = None,
        select: str | Sequence[str] | None = None,
        recall_target: float | None = None,
        exact: bool = False,
        nprobe: int | None = None,
        shortlist: int | Sequence[int] | None = None,
        analyze: bool = False,
    ) -> str:
        """The plan of :meth:`search` with these arguments (EXPLAIN): strategy and why,
        estimated selectivity, the funnel schedule. With ``analyze=True`` the search runs
        and each stage reports candidates in and out, rows and bytes read and time (EXPLAIN
        ANALYZE)."""
    def to_arrow(
        self,
        columns: str | Sequence[str] | None = None,
        limit: int | None = None,
        filter: str | None = None,
    ) -> pa.Table:
        """Rows in storage order: ``columns`` (default: all, the vector included; ``_rowid``
        may be named too), at most ``limit`` rows, matching the SQL condition ``filter``."""
    def flush(self) -> dict[str, Any]:
        """Writes unflushed rows into a segment. Returns ``rows``, ``segments_replaced``,
        ``index_version`` and ``refit``."""
    def compact(self) -> dict[str, Any]:
        """Merges every segment and unflushed row into one segment, dropping deleted rows;
        fits the learned index if the table has none and is large enough, or re-fits it
        when the data has drifted."""
    def analyze(self, tune_on: Any = None) -> dict[str, Any]:
        """Re-learns the index from the current rows (and compacts). Tables below the
        ``min_rows`` option stay unindexed and are searched exactly. ``tune_on`` (an array of
        queries, ``"sampled"`` or ``"rows"``) sets the tuning queries in the same step."""
    def set_tuning_queries(self, queries: Any) -> None:
        """Sets the queries the next ``analyze()`` tunes the recall targets on, instead of
        rows of the table (a 2-d array; at least 20, more than 2,000 sampled down; an empty
        one to tune on rows again). Stored with the index, so later fits keep them."""
    def sampled_queries(self) -> np.ndarray:
        """The searches the live recall monitor measured (at most 1,000), one per row."""
    def tuning_queries(self) -> int:
        """How many tuning queries the next ``analyze()`` tunes on (0: rows of the table)."""
