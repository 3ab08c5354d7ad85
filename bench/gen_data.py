"""Write demo data of any size to Parquet (and optionally CSV) for benchmarks.

    .venv/bin/python bench/gen_data.py --clients 100000 --years 3 --out bench/data/10m [--csv]

One file per canonical table (``invoice_lines.parquet`` written batch by batch, so memory stays bounded), and
``summary.json`` with the rows per table, the seconds taken and the peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from salesfolio.contract import TABLES
from salesfolio.demo import DEFAULT_ANCHOR, default_as_of, generate_streaming


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports ru_maxrss in KiB)."""
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def write(out: Path, clients: int, years: int, seed: int, as_of: dt.date, csv: bool) -> dict[str, object]:
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tables = generate_streaming(clients=clients, years=years, seed=seed, as_of=as_of)
    rows: dict[str, int] = {}
    for name, data in tables.items():
        schema = TABLES[name].arrow_schema
        batches = [data] if isinstance(data, pa.Table) else data
        rows[name] = 0
        with pq.ParquetWriter(out / f"{name}.parquet", schema, compression="zstd") as parquet:
            csv_writer = pacsv.CSVWriter(out / f"{name}.csv", schema) if csv else None
            try:
                for batch in batches:
                    parquet.write_table(batch, row_group_size=1_000_000)
                    if csv_writer is not None:
                        csv_writer.write_table(batch)
                    rows[name] += batch.num_rows
            finally:
                if csv_writer is not None:
                    csv_writer.close()
    seconds = time.perf_counter() - started
    summary: dict[str, object] = {
        "clients": clients,
        "years": years,
        "seed": seed,
        "as_of": as_of.isoformat(),
        "rows": rows,
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "csv": csv,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=default_as_of(DEFAULT_ANCHOR))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--csv", action="store_true", help="also write CSV files next to the Parquet ones")
    args = parser.parse_args(argv)
    summary = write(args.out, args.clients, args.years, args.seed, args.as_of, args.csv)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
