"""nestdb: an embedded vector database with learned indexing over Matryoshka embeddings.

    >>> import numpy as np, pyarrow as pa, nestdb
    >>> db = nestdb.connect()                       # temporary; removed on close
    >>> t = db.create_table("docs", pa.schema([
    ...     ("id", pa.int64()), ("label", pa.string()),
    ...     ("embedding", pa.list_(pa.float32(), 4))]), paths=["label"], metric="l2")
    >>> t.add({"id": np.arange(3), "label": ["a/b", "a/c", "d"],
    ...        "embedding": np.eye(3, 4, dtype=np.float32)})
    3
    >>> t.search(np.array([1, 0, 0, 0], np.float32), k=2, filter="label <@ 'a'")["id"].to_pylist()
    [0, 1]

Data goes in and out as Arrow without copies where the layout allows (numpy float32 arrays,
pyarrow tables); results are ``pyarrow.Table`` objects. Engine calls release the GIL, so
threads can search while another one writes.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from . import _convert, _nestdb, _params
from ._nestdb import (
    CatalogError,
    Error,
    InputError,
    ModelError,
    NotFoundError,
    QueryError,
    SchemaError,
    StorageError,
)

__version__: str = _nestdb.__version__

__all__ = [
    "connect",
    "Database",
    "Table",
    "Error",
    "InputError",
    "QueryError",
    "SchemaError",
    "CatalogError",
    "NotFoundError",
    "ModelError",
    "StorageError",
    "__version__",
]


def connect(
    path: str | os.PathLike[str] | None = None,
    *,
    sync: bool | None = None,
    auto_flush_rows: int | None = None,
    auto_index: bool | None = None,
    recall_sample_rate: float | None = None,
) -> Database:
    """Opens (creating if needed) the database in directory ``path``.

    Without a path, the database lives in a new temporary directory that is removed when the
    database is closed (``close()``, the end of a ``with`` block) or garbage-collected, like an
    in-memory SQLite or DuckDB database.
    """
    return Database(path, sync=sync, auto_flush_rows=auto_flush_rows, auto_index=auto_index,
                    recall_sample_rate=recall_sample_rate)


def _close(db: _nestdb.Database) -> None:
    db.close()


def _option_value(v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    return str(v)


def _names(select: str | Sequence[str] | None) -> list[str] | None:
    if select is None:
        return None
    if isinstance(select, str):
        return [select]
    return [str(s) for s in select]


def _ints(xs: int | Sequence[int] | None) -> list[int] | None:
    if xs is None:
        return None
    if isinstance(xs, int):
        return [xs]
    return [int(x) for x in xs]


def _table(batch: pa.RecordBatch) -> pa.Table:
    return pa.Table.from_batches([batch])


class Database:
    """An open nestdb database: a directory holding tables. Use :func:`connect`."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        sync: bool | None = None,
        auto_flush_rows: int | None = None,
        auto_index: bool | None = None,
        recall_sample_rate: float | None = None,
    ) -> None:
        self._db = _nestdb.Database(
            None if path is None else os.fspath(path),
            sync=sync,
            auto_flush_rows=auto_flush_rows,
            auto_index=auto_index,
            recall_sample_rate=recall_sample_rate,
        )
        # Closes (and removes a temporary directory) on garbage collection and at exit.
        self._finalizer = weakref.finalize(self, _close, self._db)

    @property
    def path(self) -> str:
        """The database directory."""
        return self._db.path

    @property
    def temporary(self) -> bool:
        """Whether the directory is temporary (removed on close)."""
        return self._db.temporary

    @property
    def closed(self) -> bool:
        """Whether the database is closed."""
        return self._db.closed

    def sql(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Runs ``;``-separated statements; returns the last statement's result.

        Statements that change data return one row with ``command`` and ``rows``.
        ``params`` fill ``$1``, ``$2``, ... as SQL literals (numbers, strings, None, bools,
        and 1-d arrays as vector literals).
        """
        if params is not None:
            try:
                sql = _params.bind(sql, params)
            except (IndexError, ValueError) as e:
                raise QueryError(str(e)) from e
        batch = self._db.sql(sql)
        return pa.table({}) if batch is None else _table(batch)

    def sql_reader(self, sql: str, params: Sequence[Any] | None = None) -> pa.RecordBatchReader:
        """Runs one query and streams its result: batches are computed as the reader is read,
        so a large scan is never collected in memory. ``params`` as in :meth:`sql`."""
        if params is not None:
            try:
                sql = _params.bind(sql, params)
            except (IndexError, ValueError) as e:
                raise QueryError(str(e)) from e
        return self._db.sql_reader(sql)

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
        """Creates a table from a pyarrow schema (see the type stubs for the type mapping)."""
        if not isinstance(schema, pa.Schema):
            schema = pa.schema(list(schema.items()) if isinstance(schema, Mapping) else schema)
        opts = dict(options or {})
        metric = str(opts.pop("metric", metric))
        inner = self._db.create_table(
            name,
            schema,
            primary_key=primary_key,
            vector=vector,
            bands=None if bands is None else [int(b) for b in bands],
            metric=metric,
            paths=[paths] if isinstance(paths, str) else [str(p) for p in paths],
            options=[(str(k), _option_value(v)) for k, v in opts.items()],
        )
        return Table(self, inner)

    def open_table(self, name: str) -> Table:
        """Opens an existing table; raises :class:`NotFoundError` if there is none."""
        return Table(self, self._db.open_table(name))

    def table_names(self) -> list[str]:
        """Names of all tables, sorted."""
        return self._db.table_names()

    def drop_table(self, name: str) -> None:
        """Drops a table and its files."""
        self._db.drop_table(name)

    def close(self) -> None:
        """Closes the database (idempotent); a temporary directory is removed."""
        self._finalizer()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.table_names()

    def __repr__(self) -> str:
        return repr(self._db)


class Table:
    """A table: writes, vector search, scans. Get one from :meth:`Database.create_table` or
    :meth:`Database.open_table`."""

    def __init__(self, database: Database, inner: _nestdb.Table) -> None:
        self._database = database  # keeps the database open while the table is in use
        self._t = inner

    @property
    def database(self) -> Database:
        """The database the table belongs to."""
        return self._database

    @property
    def name(self) -> str:
        """The table's name."""
        return self._t.name

    @property
    def schema(self) -> pa.Schema:
        """The table's columns (PATH columns carry field metadata ``nestdb.type: path``)."""
        return self._t.schema

    @property
    def primary_key(self) -> str:
        """The primary-key column."""
        return self._t.primary_key

    @property
    def vector_column(self) -> str:
        """The vector column."""
        return self._t.vector_column

    @property
    def dim(self) -> int:
        """The vector dimension."""
        return self._t.dim

    @property
    def metric(self) -> str:
        """The distance metric: ``cosine``, ``l2`` or ``dot``."""
        return self._t.metric

    @property
    def maintenance_error(self) -> str | None:
        """The last failure of maintenance (automatic flush, compaction, index fit) that
        followed a successful write, or None. The write itself succeeded; the maintenance is
        retried by the next write."""
        return self._t.maintenance_error

    @property
    def bands(self) -> list[int]:
        """The Matryoshka boundaries (band ends below the dimension)."""
        return self._t.bands

    def count(self) -> int:
        """Live rows."""
        return self._t.count()

    def recall_report(self) -> dict[str, Any]:
        """Live recall measured on a sample of this table's searches, against the promise
        (``SHOW RECALL``; see docs/recall.md): ``sample_rate``, ``pending``, ``adjustments``
        (``(target, note)`` pairs) and ``rows``, one dict per promised target and filter
        selectivity band with ``target``, ``band``, ``samples``, ``measured``, ``ci_low``,
        ``ci_high``, ``estimated`` and ``serving_target``."""
        return self._t.recall_report()

    def set_recall_sampling(self, rate: float) -> None:
        """Samples this fraction of searches for live recall measurement (0 turns it off)."""
        self._t.set_recall_sampling(rate)

    def __len__(self) -> int:
        return self._t.count()

    def _rows(self, data: Any) -> Any:
        return _convert.rows(data, lambda: self._t.schema)

    def add(self, data: Any) -> int:
        """Inserts rows; returns how many. Fails, writing nothing, on any bad row or an id
        that exists (:class:`InputError`)."""
        return self._t.add(self._rows(data))

    def upsert(self, data: Any) -> int:
        """Inserts rows, replacing rows with the same id; returns how many."""
        return self._t.upsert(self._rows(data))

    def delete(self, where: Any) -> int:
        """Deletes rows by id (ints, a sequence or array of ints) or by a SQL condition
        (``str``); returns the rows deleted."""
        if isinstance(where, str):
            return self._t.delete_where(where)
        return self._t.delete_ids(_convert.id_array(where))

    def search(
        self,
        query: Any,
        k: int = 10,
        *,
        filter: str | None = None,
        select: str | Sequence[str] | None = None,
        recall_target: float | None = None,
        exact: bool = False,
        nprobe: int | None = None,
        shortlist: int | Sequence[int] | None = None,
    ) -> pa.Table:
        """The ``k`` nearest rows to ``query``: the selected columns, ``_rowid`` and
        ``_distance``, nearest first."""
        q = _convert.query_vector(query)
        return _table(
            self._t.search(
                q,
                int(k),
                filter=filter,
                select=_names(select),
                recall_target=None if recall_target is None else float(recall_target),
                exact=bool(exact),
                nprobe=None if nprobe is None else int(nprobe),
                shortlist=_ints(shortlist),
            )
        )

    def search_ids(
        self,
        query: Any,
        k: int = 10,
        *,
        filter: str | None = None,
        recall_target: float | None = None,
        exact: bool = False,
        nprobe: int | None = None,
        shortlist: int | Sequence[int] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The lean search: ``(ids, distances)`` of the ``k`` nearest rows as numpy arrays
        (int64 primary keys, float32 distances), nearest first, without building a table."""
        q = _convert.query_vector(query)
        ids, dist = self._t.search_ids(
            q,
            int(k),
            filter=filter,
            recall_target=None if recall_target is None else float(recall_target),
            exact=bool(exact),
            nprobe=None if nprobe is None else int(nprobe),
            shortlist=_ints(shortlist),
        )
        return np.frombuffer(ids, dtype=np.int64), np.frombuffer(dist, dtype=np.float32)

    def search_batch(
        self,
        queries: Any,
        k: int = 10,
        *,
        filter: str | None = None,
        select: str | Sequence[str] | None = None,
        recall_target: float | None = None,
        exact: bool = False,
        nprobe: int | None = None,
        shortlist: int | Sequence[int] | None = None,
    ) -> pa.Table:
        """Every row of ``queries`` searched in parallel on one snapshot (the GIL released).

        One table: ``_query`` (the query's row number), then the columns of ``search``; the
        rows of each query are nearest first. ``res.filter(pc.equal(res["_query"], i))`` gives
        query ``i``'s results.
        """
        q = _convert.query_matrix(queries)
        batches = self._t.search_batch(
            q,
            int(k),
            filter=filter,
            select=_names(select),
            recall_target=None if recall_target is None else float(recall_target),
            exact=bool(exact),
            nprobe=None if nprobe is None else int(nprobe),
            shortlist=_ints(shortlist),
        )
        return _table(batches)

    def explain(
        self,
        query: Any,
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
        """The search plan (EXPLAIN); with ``analyze=True`` the search runs and each stage
        reports candidates, rows and bytes read and time (EXPLAIN ANALYZE)."""
        q = _convert.query_vector(query)
        return self._t.explain(
            q,
            int(k),
            filter=filter,
            select=_names(select),
            recall_target=None if recall_target is None else float(recall_target),
            exact=bool(exact),
            nprobe=None if nprobe is None else int(nprobe),
            shortlist=_ints(shortlist),
            analyze=bool(analyze),
        )

    def to_arrow(
        self,
        columns: str | Sequence[str] | None = None,
        limit: int | None = None,
        filter: str | None = None,
    ) -> pa.Table:
        """Rows in storage order: ``columns`` (all, the vector included, by default;
        ``_rowid`` may be named), at most ``limit``, matching ``filter``."""
        return _table(
            self._t.to_arrow(
                columns=_names(columns),
                limit=None if limit is None else int(limit),
                filter=filter,
            )
        )

    def flush(self) -> dict[str, Any]:
        """Writes unflushed rows into a segment."""
        return self._t.flush()

    def compact(self) -> dict[str, Any]:
        """Merges segments and drops deleted rows; fits the learned index when needed."""
        return self._t.compact()

    def analyze(self, tune_on: Any = None) -> dict[str, Any]:
        """Re-learns the index from the current rows (and compacts).

        ``tune_on`` sets the tuning queries in the same step (SQL ``ANALYZE t TUNE ON``): a
        2-d array of queries like the ones this table will serve, ``"sampled"`` for the
        searches the live recall monitor measured, or ``"rows"`` to tune on rows of the
        table again. Without it, the table's current tuning queries (or rows) are used."""
        if tune_on is None:
            return self._t.analyze()
        if isinstance(tune_on, str):
            if tune_on == "rows":
                q = np.zeros((0, 0), dtype=np.float32)
            elif tune_on == "sampled":
                return self._t.analyze_sampled()
            else:
                raise ValueError(f"tune_on must be an array, 'sampled' or 'rows', not {tune_on!r}")
        else:
            q = _tuning_matrix(tune_on)
        return self._t.analyze(q)

    def set_tuning_queries(self, queries: Any) -> None:
        """Sets the queries the next ``analyze()`` tunes the recall targets on, instead of
        rows of the table: a sample of the queries this table will serve (a 2-d array, one
        query per row; at least 20, more than 2,000 are sampled down; an empty one to tune on
        rows again). They are stored with the index, so reopening and later fits keep them."""
        self._t.set_tuning_queries(_tuning_matrix(queries))

    def sampled_queries(self) -> np.ndarray:
        """The searches the live recall monitor measured (at most 1,000, a uniform sample of
        the measured ones since open), one query per row."""
        flat, n = self._t.sampled_queries()
        return np.asarray(flat, dtype=np.float32).reshape(n, -1) if n else np.zeros((0, 0), np.float32)

    def tuning_queries(self) -> int:
        """How many tuning queries the next ``analyze()`` tunes on (0: rows of the table)."""
        return self._t.tuning_queries()

    def __repr__(self) -> str:
        return f"<nestdb Table {self.name!r}>"


def _tuning_matrix(queries: Any) -> np.ndarray:
    """Tuning queries as a 2-d float32 array (an empty input: none)."""
    if len(queries) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    if not isinstance(queries, pa.FixedSizeListArray) and np.ndim(queries) == 1:
        raise ValueError("tuning queries must be a 2-d array, one query per row")
    return _convert.query_matrix(queries)
