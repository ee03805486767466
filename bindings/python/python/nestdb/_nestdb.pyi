"""Native module of nestdb (low-level; use the ``nestdb`` package)."""

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__version__: str

class Error(Exception): ...
class InputError(Error): ...
class QueryError(Error): ...
class SchemaError(Error): ...
class CatalogError(Error): ...
class NotFoundError(CatalogError): ...
class ModelError(Error): ...
class StorageError(Error): ...

_F32 = npt.NDArray[np.float32]

class Database:
    def __init__(
        self,
        path: str | None = None,
        *,
        sync: bool | None = None,
        auto_flush_rows: int | None = None,
        auto_index: bool | None = None,
    ) -> None: ...
    @property
    def path(self) -> str: ...
    @property
    def temporary(self) -> bool: ...
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...
    def sql(self, sql: str) -> pa.RecordBatch | None: ...
    def create_table(
        self,
        name: str,
        schema: pa.Schema,
        *,
        primary_key: str = "id",
        vector: str | None = None,
        bands: list[int] | None = None,
        metric: str = "cosine",
        paths: list[str] = ...,
        options: list[tuple[str, str]] = ...,
    ) -> Table: ...
    def open_table(self, name: str) -> Table: ...
    def table_names(self) -> list[str]: ...
    def drop_table(self, name: str) -> None: ...

class Table:
    @property
    def name(self) -> str: ...
    @property
    def schema(self) -> pa.Schema: ...
    @property
    def primary_key(self) -> str: ...
    @property
    def vector_column(self) -> str: ...
    @property
    def dim(self) -> int: ...
    @property
    def metric(self) -> str: ...
    @property
    def bands(self) -> list[int]: ...
    def count(self) -> int: ...
    def add(self, data: Any) -> int: ...
    def upsert(self, data: Any) -> int: ...
    def delete_ids(self, ids: pa.Array) -> int: ...
    def delete_where(self, filter: str) -> int: ...
    def search(
        self,
        query: _F32,
        k: int = 10,
        *,
        filter: str | None = None,
        select: list[str] | None = None,
        recall_target: float | None = None,
        exact: bool = False,
        nprobe: int | None = None,
        shortlist: list[int] | None = None,
    ) -> pa.RecordBatch: ...
    def search_ids(
        self,
        query: _F32,
        k: int = 10,
        *,
        filter: str | None = None,
        recall_target: float | None = None,
        exact: bool = False,
        nprobe: int | None = None,
        shortlist: list[int] | None = None,
    ) -> tuple[bytes, bytes]: ...
    def search_batch(
        self,
        queries: _F32,
        k: int = 10,
        *,
        filter: str | None = None,
        select: list[str] | None = None,
        recall_target: float | None = None,
        exact: bool = False,
        nprobe: int | None = None,
        shortlist: list[int] | None = None,
    ) -> pa.RecordBatch: ...
    def explain(
        self,
        query: _F32,
        k: int = 10,
        *,
        filter: str | None = None,
        select: list[str] | None = None,
        recall_target: float | None = None,
        exact: bool = False,
        nprobe: int | None = None,
        shortlist: list[int] | None = None,
        analyze: bool = False,
    ) -> str: ...
    def to_arrow(
        self, columns: list[str] | None = None, limit: int | None = None, filter: str | None = None
    ) -> pa.RecordBatch: ...
    def flush(self) -> dict[str, Any]: ...
    def compact(self) -> dict[str, Any]: ...
    def analyze(self) -> dict[str, Any]: ...
