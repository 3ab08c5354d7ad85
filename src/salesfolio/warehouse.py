"""The warehouse: canonical tables in an Ibis backend (DuckDB file by default; SQLite, PostgreSQL, Spark by URL).

This is the only module that knows engine specifics. Everything else asks it for Ibis tables
(:meth:`Warehouse.table`) and builds expressions on them, or hands it Arrow data to load.

Loads are all-or-nothing: data is first written to a staging table, checked there, and only then merged into the
canonical table inside one transaction (delete rows whose key is in the staging table, insert the staging rows).
A failed check or an error mid-way drops the staging table and leaves the canonical table as it was.

>>> wh = Warehouse.connect("duckdb://")
>>> import pyarrow as pa
>>> wh.upsert("reps", pa.table({"rep_id": ["r1"], "name": ["Anna"]}))
1
>>> wh.table("reps").count().execute()
1
>>> wh.close()

An embedded DuckDB warehouse runs with :class:`EngineOptions`: by default a buffer-pool limit of
:data:`DEFAULT_MEMORY_LIMIT` (DuckDB spills hash tables and sorts to disk beyond it, in ``<file>.tmp`` beside a
file warehouse) and all cores.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa

from salesfolio.contract import TABLES, Table
from salesfolio.contract import table as contract_table

_SAFE_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
MEMORY_SIZE = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)
"""A DuckDB memory size: a number and a unit (``500MB``, ``1.5GiB``)."""
DEFAULT_MEMORY_LIMIT = "400MB"
"""DuckDB's buffer-pool limit unless configured (DuckDB's own default is 80 % of the machine's memory).

Measured at 10 M invoice lines on 2 cores (docs/benchmarks.md): the feature step on a warehouse file peaks at
~650 MB RSS instead of ~920 (DuckDB first drops cached table blocks; CPU within the noise), the same step on
Parquet files at ~640 instead of ~720-780 (it spills hash tables: ~10 % more CPU), the 10 M-line import at 790 MB
instead of 1,855 (+4 % CPU). The process itself (Python, Ibis, pandas, Arrow, DuckDB) is ~210 MB before a query."""


@dataclass(frozen=True)
class EngineOptions:
    """Resource settings of the embedded engine (DuckDB); other engines manage their own and ignore these.

    Parameters
    ----------
    memory_limit
        DuckDB's ``memory_limit`` (``"400MB"``, ``"2GB"``): the memory its buffer pool may hold; beyond it hash
        tables, sorts and windows spill to a temporary folder. ``None``: DuckDB's default, 80 % of the machine's
        memory.
    threads
        DuckDB's ``threads``; ``None``: one per core. One thread costs less CPU in total and less memory, but
        takes longer on an idle machine.
    """

    memory_limit: str | None = DEFAULT_MEMORY_LIMIT
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.memory_limit is not None and not MEMORY_SIZE.match(self.memory_limit):
            raise ValueError(f"memory_limit must be a size such as '400MB' or '2GB', not {self.memory_limit!r}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be at least 1, not {self.threads}")

    @classmethod
    def configured(cls, memory_limit: str | None = None, threads: int | None = None) -> EngineOptions:
        """Options from the workspace's ``[warehouse]`` keys: an unset limit is the default, ``"none"`` DuckDB's.

        >>> EngineOptions.configured().memory_limit == DEFAULT_MEMORY_LIMIT
        True
        >>> EngineOptions.configured("none", 1)
        EngineOptions(memory_limit=None, threads=1)
        """
        if memory_limit is None:
            return cls(threads=threads)
        return cls(None if memory_limit.strip().lower() == "none" else memory_limit, threads)

    def duckdb_config(self, *, in_memory: bool) -> dict[str, Any]:
        """The settings passed to ``duckdb.connect``.

        An in-memory database would spill into ``.tmp`` in the current directory: it gets a folder of its own
        under the system's temporary directory instead (a file database spills beside its file).
        """
        config: dict[str, Any] = {}
        if self.memory_limit is not None:
            config["memory_limit"] = self.memory_limit
            # jemalloc keeps freed pages for reuse; its background thread hands them back to the system, so the
            # process stays near the limit instead of near the sum of every query's peak.
            config["allocator_background_threads"] = True
        if self.threads is not None:
            config["threads"] = self.threads
        if in_memory:
            config["temp_directory"] = str(Path(tempfile.gettempdir()) / f"salesfolio-duckdb-{uuid.uuid4().hex[:10]}")
        return config


class WarehouseError(RuntimeError):
    """The warehouse could not be opened or a load could not be carried out."""


def _ident(name: str) -> str:
    # Identifiers come from the data contract, never from user input; refuse anything else outright.
    if not _SAFE_IDENT.match(name):
        raise WarehouseError(f"refusing unsafe SQL identifier {name!r}")
    return f'"{name}"'


def conform(data: pa.Table, spec: Table) -> pa.Table:
    """Return ``data`` with exactly the contract's columns, in contract order and types (absent ones null).

    Columns outside the contract are dropped. Casting is strict: a value that does not fit raises
    ``pyarrow.ArrowInvalid`` (importers validate and convert before they get here).
    """
    arrays = []
    for col in spec.columns:
        if col.name in data.column_names:
            arr = data.column(col.name)
            if arr.type != col.arrow_type:
                arr = arr.cast(col.arrow_type)
            arrays.append(arr)
        else:
            arrays.append(pa.nulls(data.num_rows, type=col.arrow_type))
    return pa.Table.from_arrays(arrays, schema=spec.arrow_schema)


class Warehouse:
    """Canonical tables stored in one Ibis backend.

    Build it with :meth:`connect`; it owns the connection and closes it in :meth:`close` (or as a context
    manager).

    Parameters
    ----------
    con
        An Ibis backend connection.
    url
        The URL it was opened from (shown in messages and reports).
    """

    def __init__(self, con: Any, url: str) -> None:
        self.con = con
        self.url = url
        self._tx_depth = 0
        self._tx_cursor: Any = None

    # -- opening ---------------------------------------------------------------------------------------------
    @classmethod
    def connect(
        cls, url: str, *, base_dir: Path | None = None, read_only: bool = False, engine: EngineOptions | None = None
    ) -> Warehouse:
        """Open the warehouse at ``url``; ``engine``: DuckDB's resource settings (default :class:`EngineOptions`).

        ``duckdb:///file.duckdb`` (relative to ``base_dir``, the workspace folder; four slashes for an absolute
        path, as in SQLAlchemy URLs),
        ``duckdb://`` (in memory), ``sqlite:///path/file.db``, ``postgres://user@host:5432/db``,
        ``pyspark://`` / ``pyspark://local[N]`` / ``spark://local[N]`` (a local Spark session) or
        ``spark://host:7077`` (a Spark cluster); Spark needs the ``spark`` extra (see :func:`_connect_spark`).
        """
        try:
            if url.startswith("duckdb://"):
                # As SQLAlchemy: duckdb:///relative.duckdb, duckdb:////absolute/path.duckdb
                path = url.removeprefix("duckdb://").removeprefix("/")
                options = engine or EngineOptions()
                if path in ("", ":memory:"):
                    con = ibis.duckdb.connect(**options.duckdb_config(in_memory=True))
                else:
                    file = Path(path)
                    if not file.is_absolute() and base_dir is not None:
                        file = base_dir / file
                    file.parent.mkdir(parents=True, exist_ok=True)
                    con = ibis.duckdb.connect(str(file), read_only=read_only, **options.duckdb_config(in_memory=False))
            elif url.startswith("sqlite://"):
                path = url.removeprefix("sqlite://").removeprefix("/")
                db: Path | None = Path(path) if path else None
                if db is not None and not db.is_absolute() and base_dir is not None:
                    db = base_dir / db
                con = ibis.sqlite.connect(str(db) if db else None)
            elif url.startswith(("pyspark://", "spark://")):
                con = _connect_spark(url, base_dir)
            else:
                con = ibis.connect(url)
        except Exception as exc:
            raise WarehouseError(f"cannot open the warehouse at {url}: {exc}") from exc
        return cls(con, url)

    def close(self) -> None:
        """Close the connection."""
        with contextlib.suppress(Exception):
            self.con.disconnect()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def backend(self) -> str:
        """The Ibis backend name: ``duckdb``, ``sqlite``, ``postgres``, ``pyspark``."""
        return str(self.con.name)

    # -- reading ---------------------------------------------------------------------------------------------
    def has(self, name: str) -> bool:
        """True when the canonical table ``name`` has been loaded (it may be empty)."""
        return name in self.con.list_tables()

    def loaded_tables(self) -> list[str]:
        """The canonical tables present, in contract order."""
        present = set(self.con.list_tables())
        return [n for n in TABLES if n in present]

    def table(self, name: str) -> ibis.Table:
        """The Ibis table for canonical table ``name``; an empty table of the contract schema if not loaded."""
        spec = contract_table(name)
        if self.has(name):
            return self.con.table(name)
        return ibis.memtable(spec.arrow_schema.empty_table())

    def row_count(self, name: str) -> int:
        """Rows in canonical table ``name`` (0 when not loaded)."""
        if not self.has(name):
            return 0
        return int(self.con.table(name).count().execute())

    def to_arrow(self, name: str) -> pa.Table:
        """The whole table as Arrow (for small tables: clients, reps, products)."""
        return self.table(name).to_pyarrow()

    # -- writing ---------------------------------------------------------------------------------------------
    def ensure(self, name: str) -> None:
        """Create canonical table ``name`` empty, with the contract schema, if it does not exist yet."""
        if not self.has(name):
            spec = contract_table(name)
            self.con.create_table(name, schema=ibis.Schema.from_pyarrow(spec.arrow_schema))

    @contextlib.contextmanager
    def staging(self, name: str) -> Iterator[Staging]:
        """A staging area for canonical table ``name``; dropped on exit whatever happens.

        Append Arrow batches to it, run checks against it (it is an ordinary table of this backend), then
        :meth:`Staging.merge` it into the canonical table in one transaction.
        """
        stage = Staging(self, contract_table(name))
        try:
            yield stage
        finally:
            stage.drop()

    def upsert(self, name: str, data: pa.Table | Iterable[pa.Table | pa.RecordBatch]) -> int:
        """Load ``data`` into canonical table ``name``: rows whose key exists are replaced, new rows added.

        For ``invoice_lines`` an invoice present in ``data`` is replaced whole (its old lines removed), so a
        corrected re-export with fewer lines leaves no stale ones. Returns the number of rows written.
        """
        with self.staging(name) as stage:
            if isinstance(data, pa.Table):
                stage.append(data)
            else:
                for part in data:
                    stage.append(part if isinstance(part, pa.Table) else pa.Table.from_batches([part]))
            return int(stage.merge())

    def replace(self, name: str, data: pa.Table) -> int:
        """Replace the whole canonical table ``name`` with ``data`` (used by the demo and by tests)."""
        spec = contract_table(name)
        arrow = conform(data, spec)
        self.create_from_arrow(name, arrow, overwrite=True)
        return int(arrow.num_rows)

    def create_from_arrow(self, name: str, data: pa.Table, *, overwrite: bool = False) -> None:
        """Create table ``name`` from Arrow data (staging tables; canonical ones go through :meth:`replace`).

        Spark gets the Arrow table directly (``createDataFrame(pyarrow.Table)``, PySpark >= 4.0): through Ibis it
        would pass through pandas, where a missing string becomes the text ``"NaN"`` and a missing float a NaN
        that Spark does not count as null.
        """
        if self.backend == "pyspark":
            frame = self.con._session.createDataFrame(data)
            frame.write.saveAsTable(name, format="parquet", mode="overwrite" if overwrite else "errorifexists")
        else:
            self.con.create_table(name, data, overwrite=overwrite)

    def raw_sql(self, sql: str) -> Any:
        """Run SQL on the backend (engine-specific maintenance only; analytics use Ibis expressions).

        Inside :meth:`transaction` on PostgreSQL and SQLite the statement runs on the transaction's cursor: Ibis's
        own ``raw_sql`` rolls back on an error, which psycopg forbids inside a transaction block, so the engine's
        error (a violated constraint, say) would surface as "Explicit rollback() forbidden" instead.
        """
        if self._tx_cursor is not None:
            return self._tx_cursor.execute(sql)
        return self.con.raw_sql(sql)

    def append_arrow(self, name: str, data: pa.Table) -> None:
        """Append Arrow rows to an existing table of this backend (staging tables; not canonical ones).

        On DuckDB the batch is registered, inserted and unregistered, so nothing of it stays in memory
        (``con.insert`` of Arrow data keeps an in-memory table registered per call until the process ends).
        """
        if not data.num_rows:
            return
        if self.backend == "pyspark":  # straight from Arrow, see create_from_arrow
            self.con._session.createDataFrame(data).write.insertInto(name)
        elif self.backend == "duckdb":
            raw = self.con.con
            view = f"_arrow_{uuid.uuid4().hex[:10]}"
            raw.register(view, data)
            try:
                raw.execute(f"INSERT INTO {_ident(name)} SELECT * FROM {_ident(view)}")
            finally:
                raw.unregister(view)
        else:
            scratch = f"_scratch_{uuid.uuid4().hex[:10]}"
            self.con.create_table(scratch, data)
            try:
                self.con.insert(name, self.con.table(scratch))
            finally:
                self.con.drop_table(scratch, force=True)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction on the backend; rolled back when the block raises.

        Re-entrant: a transaction opened inside another joins it, so several merges can commit together
        (an import run merges every table of the run or none).
        """
        if self._tx_depth:
            self._tx_depth += 1
            try:
                yield
            finally:
                self._tx_depth -= 1
            return
        self._tx_depth = 1
        try:
            with self._backend_transaction():
                yield
        finally:
            self._tx_depth = 0

    @contextlib.contextmanager
    def _backend_transaction(self) -> Iterator[None]:
        if self.backend == "duckdb":
            raw = self.con.con
            raw.begin()
            try:
                yield
            except BaseException:
                raw.rollback()
                raise
            raw.commit()
        elif hasattr(self.con, "begin"):
            with self.con.begin() as cursor:
                self._tx_cursor = cursor
                try:
                    yield
                finally:
                    self._tx_cursor = None
        else:  # engines without transactions (Spark): best effort
            yield


class Staging:
    """Rows waiting to be merged into one canonical table (see :meth:`Warehouse.staging`)."""

    def __init__(self, warehouse: Warehouse, spec: Table) -> None:
        self.warehouse = warehouse
        self.spec = spec
        self.name = f"_stage_{spec.name}_{uuid.uuid4().hex[:10]}"
        self.rows = 0
        self._created = False

    def append(self, data: pa.Table) -> None:
        """Add rows (conformed to the contract schema) to the staging table."""
        arrow = conform(data, self.spec)
        if not self._created:
            self.warehouse.create_from_arrow(self.name, arrow)
            self._created = True
        else:
            self.warehouse.append_arrow(self.name, arrow)
        self.rows += arrow.num_rows

    def table(self) -> ibis.Table:
        """The staging table as an Ibis table (for checks)."""
        if not self._created:
            return ibis.memtable(self.spec.arrow_schema.empty_table())
        return self.warehouse.con.table(self.name)

    def merge(self) -> int:
        """Move the staged rows into the canonical table in one transaction; return how many were written."""
        if not self._created or self.rows == 0:
            self.warehouse.ensure(self.spec.name)
            return 0
        wh = self.warehouse
        wh.ensure(self.spec.name)
        key = ("invoice_id",) if self.spec.name == "invoice_lines" else self.spec.key
        if wh.backend == "pyspark":
            self._rewrite(key)
            return self.rows
        target, stage = _ident(self.spec.name), _ident(self.name)
        match = " AND ".join(f"s.{_ident(k)} = {target}.{_ident(k)}" for k in key)
        cols = ", ".join(_ident(c) for c in self.spec.names)
        with wh.transaction():
            wh.raw_sql(f"DELETE FROM {target} WHERE EXISTS (SELECT 1 FROM {stage} s WHERE {match})")
            wh.raw_sql(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage}")
        return self.rows

    def _rewrite(self, key: tuple[str, ...]) -> None:
        """Merge where plain tables have no DELETE (Spark): rewrite the canonical table, then swap it in.

        The new table is (canonical rows whose key is not staged) UNION ALL (staged rows), written in full to a
        side table before the canonical one is touched (Spark cannot overwrite a table it is reading). Then the
        canonical table is dropped and the side table renamed to it; should that last step fail, the rows are in
        ``_merge_<table>_<id>``. Spark has no transactions: a reader during the swap may find no table.
        """
        con = self.warehouse.con
        names = self.spec.names
        target, stage = con.table(self.spec.name), con.table(self.name)
        kept = target.anti_join(stage.select(*key).distinct(), list(key))
        merged = kept.select(*names).union(stage.select(*names))
        swap = f"_merge_{self.spec.name}_{uuid.uuid4().hex[:10]}"
        con.create_table(swap, merged)
        con.drop_table(self.spec.name)
        con.rename_table(swap, self.spec.name)

    def drop(self) -> None:
        """Remove the staging table (idempotent)."""
        if self._created:
            with contextlib.suppress(Exception):
                self.warehouse.con.drop_table(self.name, force=True)
            self._created = False


def _connect_spark(url: str, base_dir: Path | None = None) -> Any:
    """A Spark session through Ibis for ``pyspark://[master]`` or ``spark://...`` (SPARK_LOCAL_IP pinned to loopback).

    ``pyspark://`` means ``local[*]``; ``pyspark://local[2]`` and ``spark://local[2]`` a local session with two
    cores; ``spark://host:7077`` a standalone cluster, whose warehouse folder and catalog come from the cluster's
    ``spark-defaults.conf`` (``SPARK_CONF_DIR``).

    A local session keeps its tables in a folder, never in the current directory: with ``base_dir`` (a workspace)
    in ``base_dir/spark-warehouse``, catalogued in an embedded Derby metastore in ``base_dir/spark-metastore``, so
    they are there again in the next process (one process at a time, as Derby allows); without ``base_dir`` in a
    temporary folder removed at exit, with an in-memory catalog. Arrow transfer to and from pandas is on, the
    progress bar off, Spark's own log at ERROR.
    """
    import atexit
    import os
    import shutil
    import tempfile

    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise WarehouseError("the Spark warehouse needs the 'spark' extra: pip install 'salesfolio[spark]'") from exc
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    rest = url.split("://", 1)[1]
    local = url.startswith("pyspark://") or rest.startswith("local")
    builder = (
        SparkSession.builder.master((rest or "local[*]") if local else url)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    metastore: Path | None = None
    if local and base_dir is None:
        folder = Path(tempfile.mkdtemp(prefix="salesfolio-spark-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        builder = builder.config("spark.sql.warehouse.dir", str(folder / "spark-warehouse"))
        builder = builder.config("spark.sql.catalogImplementation", "in-memory")
    elif local and base_dir is not None:
        folder = base_dir.resolve()
        metastore = folder / "spark-metastore"
        metastore.mkdir(parents=True, exist_ok=True)
        builder = builder.config("spark.sql.warehouse.dir", str(folder / "spark-warehouse"))
        builder = builder.config("spark.sql.catalogImplementation", "hive")
        builder = builder.config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={metastore / 'metastore_db'};create=true",
        )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    if metastore is not None:
        # Derby writes derby.log into derby.system.home (default: the current directory). It boots at the first
        # catalog access, so setting the property here is in time, also in a JVM that ran a session before.
        jvm: Any = session._jvm
        jvm.java.lang.System.setProperty("derby.system.home", str(metastore))
    return ibis.pyspark.connect(session)
