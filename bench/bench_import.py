"""Import benchmark: wall time, rows per second and peak RSS of ``salesfolio.ingest.run_import``.

Usage::

    .venv/bin/python bench/bench_import.py                 # a generated 1,000,000-line CSV
    .venv/bin/python bench/bench_import.py --lines 10000000 --memory-limit 1GB
    .venv/bin/python bench/bench_import.py --file ../shared/data/uci-online-retail/online_retail.csv.gz

The generated file looks like an ERP export (UCI Online Retail's columns: InvoiceNo, StockCode, Description,
Quantity, InvoiceDate, UnitPrice, CustomerID, Country), with 3 lines per invoice on average, 20,000 clients,
5,000 products, 2 % returns and 5 % lines without a client. Invoices are two minutes apart from 2022-01-01 08:00,
or closer when that would run past the end of 2024 (from about 2.4 M lines on: at 10 M lines 3.3 M invoices share
the three years), so every date lies in the past and the importer accepts it. It is written in chunks, so
generating it takes little memory. Each import runs in a child process into a fresh DuckDB file warehouse, so the
peak RSS printed is the import's own (``resource.getrusage(RUSAGE_CHILDREN)``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

CHUNK = 200_000
FIRST_INVOICE = np.datetime64("2022-01-01T08:00")
LAST_DAY = np.datetime64("2024-12-31T23:59")
"""Invoice dates stay in 2022-2024: the importer refuses dates more than a year after today."""
STEP_MINUTES = 2


def invoice_minutes(invoice: np.ndarray, invoices: int) -> np.ndarray:
    """Minutes after :data:`FIRST_INVOICE` of each invoice number: 2 apart, closer if 2 would pass LAST_DAY.

    >>> invoice_minutes(np.array([0, 1, 2]), 3).tolist()
    [0, 2, 4]
    >>> span = int((LAST_DAY - FIRST_INVOICE) // np.timedelta64(1, "m"))
    >>> int(invoice_minutes(np.array([3_333_333]), 3_333_334)[0]) <= span
    True
    """
    span = int((LAST_DAY - FIRST_INVOICE) // np.timedelta64(1, "m"))
    if (invoices - 1) * STEP_MINUTES <= span:
        return invoice * STEP_MINUTES
    return invoice * span // max(invoices - 1, 1)


def generate(path: Path, lines: int, seed: int = 42) -> None:
    """Write ``lines`` invoice lines to ``path`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    names = np.array([f"PRODUCT {i} {'BLUE' if i % 2 else 'RED'} METAL SIGN" for i in range(5_000)])
    countries = np.array(["United Kingdom", "Germany", "France", "Poland", "Spain"])
    invoices = (lines + 2) // 3
    with pacsv.CSVWriter(path, _schema()) as writer:
        for first in range(0, lines, CHUNK):
            n = min(CHUNK, lines - first)
            index = np.arange(first, first + n)
            product = rng.integers(0, 5_000, n)
            client = rng.integers(10_000, 30_000, n)
            quantity = rng.integers(1, 48, n)
            quantity = np.where(rng.random(n) < 0.02, -quantity, quantity)
            minutes = invoice_minutes(index // 3, invoices)
            table = pa.table(
                {
                    "InvoiceNo": pa.array((index // 3 + 500_000).astype(str)),
                    "StockCode": pa.array(np.char.add("S", product.astype(str))),
                    "Description": pa.array(names[product]),
                    "Quantity": pa.array(quantity),
                    "InvoiceDate": pa.array((FIRST_INVOICE + minutes.astype("timedelta64[m]")).astype(str)),
                    "UnitPrice": pa.array(np.round(rng.gamma(2.0, 2.5, n), 2)),
                    "CustomerID": pa.array(np.where(rng.random(n) < 0.05, "", client.astype(str))),
                    "Country": pa.array(countries[client % 5]),
                },
                schema=_schema(),
            )
            writer.write_table(table)


def _schema() -> pa.Schema:
    return pa.schema(
        [
            ("InvoiceNo", pa.string()),
            ("StockCode", pa.string()),
            ("Description", pa.string()),
            ("Quantity", pa.int64()),
            ("InvoiceDate", pa.string()),
            ("UnitPrice", pa.float64()),
            ("CustomerID", pa.string()),
            ("Country", pa.string()),
        ]
    )


def child(path: Path, warehouse_url: str, memory_limit: str) -> None:
    """Import ``path`` and print one JSON line with the figures (run in a child process)."""
    from salesfolio.ingest import run_import
    from salesfolio.warehouse import Warehouse

    started = time.perf_counter()
    with Warehouse.connect(warehouse_url) as wh:
        if memory_limit:  # else the warehouse's default (salesfolio.warehouse.DEFAULT_MEMORY_LIMIT)
            wh.raw_sql(f"SET memory_limit = '{memory_limit}'")  # DuckDB's buffer pool; it spills beyond
        report = run_import(wh, path)
        seconds = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "rows_read": sum(f.rows_read for f in report.files),
                    "rows_loaded": sum(f.rows_loaded for f in report.files),
                    "loaded": report.loaded,
                    "seconds": seconds,
                    "user_s": usage.ru_utime,
                    "system_s": usage.ru_stime,
                }
            )
        )


def measure(path: Path, memory_limit: str) -> dict[str, object]:
    """Run the import of ``path`` in a child process; return its figures and peak RSS."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"duckdb:///{Path(folder) / 'warehouse.duckdb'}"
        command = [sys.executable, __file__, "--child", str(path), url, memory_limit]
        out = subprocess.run(command, check=True, capture_output=True, text=True)
    figures: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--file", type=Path, help="import this file instead of a generated one")
    parser.add_argument(
        "--memory-limit", default="", help="DuckDB memory_limit, e.g. 1GB (default: the warehouse's, 400MB)"
    )
    parser.add_argument("--child", nargs=3, metavar=("PATH", "URL", "LIMIT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1], args.child[2])
        return
    with tempfile.TemporaryDirectory() as folder:
        path = args.file
        if path is None:
            path = Path(folder) / f"invoice_lines_{args.lines}.csv"
            started = time.perf_counter()
            generate(path, args.lines)
            print(
                f"generated {args.lines:,} lines ({path.stat().st_size / 2**20:.0f} MiB) in "
                f"{time.perf_counter() - started:.1f} s"
            )
        time.sleep(2)  # let the generator's memory go back before the timed run
        figures = measure(path, args.memory_limit)
    seconds = float(figures["seconds"])  # type: ignore[arg-type]
    rows = int(figures["rows_read"])  # type: ignore[call-overload]
    print(f"file: {path.name}, {path.stat().st_size / 2**20:.0f} MiB" if path.exists() else f"file: {path.name}")
    print(f"ok: {figures['ok']}, rows read {rows:,}, loaded {figures['rows_loaded']:,}")
    print(f"wall {seconds:.1f} s (user {figures['user_s']:.1f} s, system {figures['system_s']:.1f} s)")
    print(f"{rows / seconds:,.0f} rows/s")
    print(f"peak RSS {figures['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
