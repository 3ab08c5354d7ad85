"""The client feature step on DuckDB, PostgreSQL and Spark local on the same sample, and what comes back.

Two measurements, each backend or size in a fresh child process (peak RSS from ``/proc/self/status`` VmHWM; for
Spark also the JVM's, which is a separate process):

``backends``  :func:`salesfolio.analytics.features.client_features` on the same generated sample (default 1 M
              invoice lines, 10 k clients; the generator of ``bench_features.py``), loaded into:

              ``duckdb``    a DuckDB file warehouse (``Warehouse.replace`` of each table);
              ``postgres``  a fresh PostgreSQL database (``Warehouse.replace``; the server of tests/conftest.py,
                            ``SALESFOLIO_TEST_PG``);
              ``spark``     ``Warehouse.connect("pyspark://local[2]")`` reading the Parquet files (a Spark
                            warehouse keeps its tables as Parquet).

              It prints, per backend: start-up (connect), load, storage (DuckDB file, PostgreSQL database,
              Parquet files read by Spark), the first feature run, the median of the next ``--runs`` runs in wall
              and CPU seconds (CPU summed over this process and the engine's: the PostgreSQL server process of
              the session, its parallel workers not included; Spark's JVM), peak RSS; then checks that every
              frame equals DuckDB's (floats within 1e-9). CPU time moves less than wall time on a busy machine.
``analysis``  :func:`salesfolio.analytics.portfolio.analyse_portfolio` (features, signals, whitespace, churn model
              with backtest, scores, segments, BG/NBD + Gamma-Gamma with backtest) on DuckDB for ``--sizes``
              clients (100 invoice lines each): wall time, peak RSS, and the bytes per client of the feature
              frame and of the result (pandas ``memory_usage(deep=True)``).

Usage::

    .venv/bin/python bench/bench_spark.py                          # backends, 1 M lines
    .venv/bin/python bench/bench_spark.py --lines 200000 --clients 2000 --runs 1
    .venv/bin/python bench/bench_spark.py analysis --sizes 10000,100000
    .venv/bin/python bench/bench_spark.py --backends spark --spark-conf spark.sql.shuffle.partitions=4

A pause (``--pause``, default 8 s) precedes every child: memory freed by the previous one is handed back to the
host slowly (see shared/notes/performance-anchors.md). The machine's load average is printed with the results:
on a shared machine the absolute figures move; rows of one run compare.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench_features import AS_OF, compare, generate

BACKENDS = ("duckdb", "postgres", "spark")
PG_ADMIN_DSN = os.environ.get("SALESFOLIO_TEST_PG", "host=127.0.0.1 port=5432 user=root dbname=postgres")


def vm_hwm_mb(pid: int | str = "self") -> float:
    """Peak resident set size (VmHWM) of a process in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU seconds used so far by a process, all its threads (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _arrow_tables(data: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    return {p.stem: pq.read_table(p) for p in sorted(data.glob("*.parquet")) if not p.stem.startswith("_")}


# -- children -------------------------------------------------------------------------------------------------
def run_backend(
    backend: str, data: Path, runs: int, save: Path | None, spark_conf: list[str] | None = None
) -> dict[str, Any]:
    """Open ``backend``, load the sample, run the feature step 1 + ``runs`` times; the timings in seconds.

    ``spark_conf`` holds ``key=value`` runtime settings applied to the Spark session after it started.
    """
    from salesfolio.analytics.features import client_features, features_from_warehouse
    from salesfolio.warehouse import Warehouse

    out: dict[str, Any] = {"backend": backend}
    database = None
    engine: list[int | str] = ["self"]  # the processes doing the work: CPU time is summed over them
    folder = data / f"_duckdb_{uuid.uuid4().hex[:6]}"
    started = time.perf_counter()
    if backend == "duckdb":
        wh = Warehouse.connect("duckdb:///bench.duckdb", base_dir=folder)
    elif backend == "postgres":
        import psycopg

        database = f"salesfolio_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        params = dict(item.split("=", 1) for item in PG_ADMIN_DSN.split())
        wh = Warehouse.connect(f"postgres://{params['user']}@{params['host']}:{params.get('port', 5432)}/{database}")
        engine.append(wh.con.con.info.backend_pid)  # the server process of this session (not parallel workers)
    elif backend == "spark":
        wh = Warehouse.connect("pyspark://local[2]")
        for setting in spark_conf or []:
            key, value = setting.split("=", 1)
            wh.con._session.conf.set(key, value)
        out["spark_conf"] = spark_conf or []
        jvm: Any = wh.con._session._jvm
        engine.append(int(jvm.java.lang.ProcessHandle.current().pid()))
    else:
        raise SystemExit(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    out["connect"] = time.perf_counter() - started

    try:
        started = time.perf_counter()
        if backend == "spark":
            tables = {p.stem: wh.con.read_parquet(p, table_name=p.stem) for p in sorted(data.glob("[!_]*.parquet"))}
            tables["invoice_lines"].count().execute()  # Spark reads lazily: make the load a load
        else:
            for name, table in _arrow_tables(data).items():
                wh.replace(name, table)
            tables = {name: wh.table(name) for name in _arrow_tables(data)}
        out["load"] = time.perf_counter() - started
        if backend == "duckdb":
            wh.raw_sql("CHECKPOINT")
            out["storage_mb"] = (folder / "bench.duckdb").stat().st_size / 2**20
        elif backend == "postgres":
            out["storage_mb"] = wh.raw_sql("SELECT pg_database_size(current_database())").fetchone()[0] / 2**20
        else:
            out["storage_mb"] = sum(p.stat().st_size for p in data.glob("[!_]*.parquet")) / 2**20

        def features() -> Any:
            if backend == "spark":
                return client_features(tables, AS_OF).frame
            return features_from_warehouse(wh, AS_OF).frame

        timings, cpu = [], []
        for _ in range(1 + runs):
            started, used = time.perf_counter(), sum(cpu_seconds(pid) for pid in engine)
            frame = features()
            timings.append(time.perf_counter() - started)
            cpu.append(sum(cpu_seconds(pid) for pid in engine) - used)
        out["first"], out["warm"] = timings[0], statistics.median(timings[1:]) if runs else float("nan")
        out["warm_cpu"] = statistics.median(cpu[1:]) if runs else float("nan")
        out["clients"] = len(frame)
        out["bytes_per_client"] = float(frame.memory_usage(deep=True).sum()) / max(len(frame), 1)
        out["rss_mb"] = vm_hwm_mb()
        if backend == "spark":
            out["jvm_rss_mb"] = vm_hwm_mb(engine[-1])
        if save is not None:
            frame.to_parquet(save)
    finally:
        wh.close()
        if database is not None:
            import psycopg

            with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return out


def run_analysis(data: Path) -> dict[str, Any]:
    """The whole portfolio analysis on DuckDB over the Parquet sample: seconds, peak RSS, bytes per client."""
    import ibis

    from salesfolio.analytics.features import client_features
    from salesfolio.analytics.portfolio import analyse_portfolio
    from salesfolio.contract import TABLES

    con = ibis.duckdb.connect()
    files = {name: data / f"{name}.parquet" for name in TABLES}
    tables = {
        name: con.read_parquet(path, table_name=name)
        if path.exists()
        else ibis.memtable(spec.arrow_schema.empty_table())
        for (name, path), spec in zip(files.items(), TABLES.values(), strict=True)
    }
    started = time.perf_counter()
    features = client_features(tables, AS_OF).frame
    features_seconds = time.perf_counter() - started
    rss_features = vm_hwm_mb()
    started = time.perf_counter()
    result = analyse_portfolio(tables, AS_OF)
    seconds = time.perf_counter() - started
    return {
        "clients": len(result.clients),
        "features_seconds": features_seconds,
        "analysis_seconds": seconds,
        "feature_bytes_per_client": float(features.memory_usage(deep=True).sum()) / len(features),
        "result_bytes_per_client": float(result.clients.memory_usage(deep=True).sum()) / len(result.clients),
        "details_json_bytes_per_client": len(json.dumps(result.details, default=str)) / len(result.clients),
        "rss_after_features_mb": rss_features,
        "rss_mb": vm_hwm_mb(),
    }


def child(args: argparse.Namespace) -> None:
    if args.child == "analysis":
        result = run_analysis(args.data)
    else:
        result = run_backend(args.child, args.data, args.runs, args.save, args.spark_conf)
    Path(args.out).write_text(json.dumps(result))


def spawn(
    kind: str, data: Path, runs: int = 0, save: Path | None = None, spark_conf: list[str] | None = None
) -> dict[str, Any]:
    """Run one child; its JSON result plus wall seconds and user/system CPU seconds (``os.wait4``)."""
    out = data / f"_out_{kind}.json"
    cmd = [sys.executable, __file__, "--child", kind, "--data", str(data), "--runs", str(runs), "--out", str(out)]
    if save is not None:
        cmd += ["--save", str(save)]
    for setting in spark_conf or []:
        cmd += ["--spark-conf", setting]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=data)  # Spark or DuckDB scratch files land in the data folder
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{kind} failed with status {status}")
    result: dict[str, Any] = json.loads(out.read_text())
    result.update(wall=time.perf_counter() - started, user=usage.ru_utime, sys=usage.ru_stime)
    return result


# -- the two reports -------------------------------------------------------------------------------------------
def backends(args: argparse.Namespace, data: Path) -> None:
    import pandas as pd

    results = []
    for backend in args.backends.split(","):
        time.sleep(args.pause)
        r = spawn(backend, data, args.runs, save=data / f"_frame_{backend}.parquet", spark_conf=args.spark_conf)
        results.append(r)
        print(f"{backend:8s} done: {json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()})}",
              flush=True)  # fmt: skip
    print(f"\n{args.lines:,} invoice lines, {args.clients:,} clients; feature step = client_features, "
          f"warm = median of {args.runs}; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    head = f"{'backend':9s} {'connect s':>9s} {'load s':>7s} {'storage MB':>10s} {'first s':>8s} {'warm s':>7s}"
    print(head + f" {'warm CPU s':>10s} {'RSS MB':>7s} {'JVM MB':>7s} {'B/client':>9s}")
    for r in results:
        jvm = f"{r['jvm_rss_mb']:7.0f}" if "jvm_rss_mb" in r else f"{'':7s}"
        print(f"{r['backend']:9s} {r['connect']:9.2f} {r['load']:7.2f} {r['storage_mb']:10.1f} "
              f"{r['first']:8.2f} {r['warm']:7.2f} {r['warm_cpu']:10.2f} {r['rss_mb']:7.0f} {jvm} "
              f"{r['bytes_per_client']:9.0f}")  # fmt: skip
    frames = {r["backend"]: pd.read_parquet(data / f"_frame_{r['backend']}.parquet") for r in results}
    if "duckdb" in frames:
        problems = [p for b, f in frames.items() if b != "duckdb" for p in compare(frames["duckdb"], f, b)]
        print("check:", "all backends agree with DuckDB" if not problems else "\n  ".join(["DIFFERENCES", *problems]))


def analysis(args: argparse.Namespace, root: Path) -> None:
    rows = []
    for clients in (int(s) for s in args.sizes.split(",")):
        data = root / f"analysis_{clients}"
        data.mkdir(parents=True, exist_ok=True)
        if not (data / "invoice_lines.parquet").exists():
            generate(data, clients * 100, clients)
        time.sleep(args.pause)
        r = spawn("analysis", data)
        rows.append(r)
        print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()}), flush=True)
    print(f"\nwhole analysis on DuckDB, 100 invoice lines per client; load average {os.getloadavg()[0]:.1f}")
    print(f"{'clients':>8s} {'features s':>10s} {'analysis s':>10s} {'wall s':>7s} {'RSS MB':>7s} "
          f"{'features B/cl':>13s} {'result B/cl':>11s} {'details B/cl':>12s}")  # fmt: skip
    for r in rows:
        print(f"{r['clients']:8,d} {r['features_seconds']:10.2f} {r['analysis_seconds']:10.2f} {r['wall']:7.1f} "
              f"{r['rss_mb']:7.0f} {r['feature_bytes_per_client']:13.0f} {r['result_bytes_per_client']:11.0f} "
              f"{r['details_json_bytes_per_client']:12.0f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("what", nargs="?", default="backends", choices=("backends", "analysis"))
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3, help="warm feature runs per backend (median reported)")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--sizes", default="10000,100000", help="clients per analysis run (100 lines each)")
    parser.add_argument("--pause", type=float, default=8.0, help="seconds to wait before each child")
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this folder instead of a temp dir")
    parser.add_argument("--spark-conf", action="append", metavar="KEY=VALUE", help="Spark runtime setting (repeat)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--save", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    print(f"{dt.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="bench_spark_") as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        if args.what == "analysis":
            analysis(args, root)
            return
        data = root / f"backends_{args.lines}_{args.clients}"
        data.mkdir(exist_ok=True)
        if not (data / "invoice_lines.parquet").exists():
            started = time.perf_counter()
            counts = generate(data, args.lines, args.clients)
            print(f"generated {counts} in {time.perf_counter() - started:.1f} s")
        backends(args, data)


if __name__ == "__main__":
    main()
