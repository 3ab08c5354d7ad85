"""Staging for an import run: staging tables that remember each row's origin, and tallies for stubs.

The run keeps running tallies of the IDs and attributes it needs to create master-data stubs (:class:`IdSet`,
:class:`Tally`).

:class:`RunStaging` is the warehouse's :class:`~salesfolio.warehouse.Staging` plus two columns, ``_file`` (the
file's position in the run; -1 for stubs) and ``_row`` (its spreadsheet row), so that checks across rows and files
(duplicate keys) can name both rows. The merge inserts only the contract's columns, so the extra ones never
reach the canonical table.

Batches are appended with :meth:`~salesfolio.warehouse.Warehouse.append_arrow`, which keeps nothing of a batch
registered once it is inserted, so memory does not grow with the file.
"""

from __future__ import annotations

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from salesfolio.warehouse import Staging, conform


class RunStaging(Staging):
    """A staging table with row provenance (see the module docstring)."""

    def append_rows(self, data: pa.Table, file_index: int, rows: np.ndarray) -> None:
        """Add ``data`` (conformed to the contract) from file ``file_index``, spreadsheet rows ``rows``."""
        arrow = conform(data, self.spec)
        arrow = arrow.append_column("_file", pa.array(np.full(arrow.num_rows, file_index, dtype=np.int32)))
        arrow = arrow.append_column("_row", pa.array(np.asarray(rows, dtype=np.int64)))
        if not self._created:
            self.warehouse.create_from_arrow(self.name, arrow)
            self._created = True
        else:
            self.warehouse.append_arrow(self.name, arrow)
        self.rows += arrow.num_rows

    def number_lines(self) -> None:
        """Fill missing ``line_no`` of invoice lines: 1, 2, ... per invoice and file, in file order."""
        if not self._created or self.rows == 0:
            return
        con = self.warehouse.con
        t = con.table(self.name)
        window = ibis.window(group_by=[t["_file"], t["invoice_id"]], order_by=[t["_row"]])
        numbered = t.mutate(line_no=ibis.coalesce(t["line_no"], (ibis.row_number().over(window) + 1).cast("int64")))
        renamed = f"{self.name}_n"
        con.create_table(renamed, numbered)
        con.drop_table(self.name, force=True)
        self.name = renamed


class IdSet:
    """Distinct values seen across batches (kept unique as they come, so memory follows the distinct count)."""

    def __init__(self) -> None:
        self._parts: list[pa.Array] = []
        self._size = 0
        self._unique = pa.array([], pa.string())

    def add(self, values: pa.Array) -> None:
        """Remember the non-null ``values``."""
        part = pc.unique(values).drop_null()
        if len(part):
            self._parts.append(part)
            self._size += len(part)
            if self._size > 4 * max(len(self._unique), 100_000):
                self._compact()

    def _compact(self) -> None:
        self._unique = pc.unique(pa.concat_arrays([self._unique, *[p.cast(pa.string()) for p in self._parts]]))
        self._parts, self._size = [], 0

    def values(self) -> pa.Array:
        """The distinct values."""
        self._compact()
        return self._unique


class Tally:
    """How often each value of an attribute occurs per ID (e.g. each product name per product ID).

    :meth:`most_frequent` picks one value per ID: the most frequent, ties broken by the smallest value (so one
    product ID with two names, as in Superstore, gets the name it carries most often).
    """

    def __init__(self) -> None:
        self._parts: list[pa.Table] = []
        self._rows = 0

    def add(self, ids: pa.Array, values: pa.Array) -> None:
        """Count the (id, value) pairs of a batch (rows where either is missing are ignored)."""
        keep = pc.and_(pc.is_valid(ids), pc.is_valid(values))
        pairs = pa.table({"id": pc.filter(ids, keep), "value": pc.filter(values, keep)})
        counted = pairs.group_by(["id", "value"]).aggregate([("id", "count")]).rename_columns(["id", "value", "n"])
        self._parts.append(counted)
        self._rows += counted.num_rows
        if len(self._parts) > 16:
            self._parts = [self._combined()]

    def _combined(self) -> pa.Table:
        if not self._parts:
            return pa.table(
                {"id": pa.array([], pa.string()), "value": pa.array([], pa.string()), "n": pa.array([], pa.int64())}
            )
        joined = pa.concat_tables(self._parts)
        return joined.group_by(["id", "value"]).aggregate([("n", "sum")]).rename_columns(["id", "value", "n"])

    def most_frequent(self) -> pa.Table:
        """One row per ID: ``id``, ``value`` (the most frequent), ``n`` (its count) and ``values`` (distinct)."""
        table = self._combined()
        distinct = table.group_by("id").aggregate([("value", "count")]).rename_columns(["id", "values"])
        ordered = table.sort_by([("id", "ascending"), ("n", "descending"), ("value", "ascending")])
        ids = ordered.column("id").combine_chunks()
        first = np.ones(len(ids), dtype=bool)
        if len(ids) > 1:
            first[1:] = np.asarray(pc.not_equal(ids[1:], ids[:-1]).to_numpy(zero_copy_only=False))
        best = ordered.filter(pa.array(first))
        return best.join(distinct, "id")
