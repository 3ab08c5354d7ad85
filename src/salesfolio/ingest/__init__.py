"""Import: data files (CSV, TXT, XLSX, XLS, Parquet, CRM and ERP exports) into the canonical tables, all or nothing.

>>> from salesfolio.warehouse import Warehouse
>>> report = run_import(Warehouse.connect("duckdb://"), [], dry_run=True)
>>> report.ok, report.loaded
(True, {})

See :func:`run_import`, :class:`ImportReport` and docs/data-contract.md.
"""

from salesfolio.ingest.errors import ImportIssue, IngestError
from salesfolio.ingest.loader import Progress, run_import
from salesfolio.ingest.mapping import FileOptions, MappingError, load_mapping
from salesfolio.ingest.report import FileReport, ImportReport

__all__ = [
    "FileOptions",
    "FileReport",
    "ImportIssue",
    "ImportReport",
    "IngestError",
    "MappingError",
    "Progress",
    "load_mapping",
    "run_import",
]
