"""Benchmark of the whole analysis on a demo workspace: each stage timed in one process, the whole in a fresh one.

Usage::

    .venv/bin/python bench/gen_data.py --clients 100000 --years 3 --out bench/data/10m
    .venv/bin/python bench/bench_analysis.py --data bench/data/10m            # builds bench/data/10m/workspace
    .venv/bin/python bench/bench_analysis.py --data bench/data/1m --runs 3 --pause 10

The data are the Parquet files of ``bench/gen_data.py`` (the ``salesfolio demo`` generator). The first run loads
them into a workspace folder (``<data>/workspace``: ``salesfolio.toml``, the DuckDB warehouse, the SQLite app
store with the demo logins), the same thing ``salesfolio demo`` builds, and times that load as ``load``. Then,
each in a fresh interpreter and after a pause (``--pause``, default 10 s: memory freed by the previous process
returns to the host slowly, see shared/notes/performance-anchors.md):

``floor``     DuckDB ``SELECT sum(revenue), count(*)`` over the invoice-line Parquet (what one scan costs);
``stages``    :func:`salesfolio.services.analysis.run_analysis` with a clock on each stage of
              :func:`~salesfolio.analytics.portfolio.analyse_portfolio` (features, signals, whitespace, churn model
              with its backtest, revenue at risk, scores and segments, forecast with its backtest, details,
              summary) and on the snapshot storage; the feature step is also timed a second time in the same
              process (a running service: imports done, page cache and engine warm);
``analysis``  ``analyse_portfolio`` alone, the whole analysis of the issue's target (no snapshot stored);
``run``       ``run_analysis``: the analysis and its snapshot in the app store (what ``salesfolio analyze`` does);
``churn``     (asked for by name) the churn step alone, twice in one process: as the analysis runs it
              (``portfolio._churn``: the backtest, and the production model only when the backtest recommends it)
              and with the production model forced (``churn_report(only_if_shown=False)``: its fit, the features
              at ``as_of`` and the per-client reasons, what a workspace whose model is shown pays), with the CPU
              seconds of each part (feature frames, labels, fits, bootstrap, reasons) and the backtest metrics per
              cut-off (AUC, precision and lost revenue in the top 10 %, Brier), to compare speed and model quality;
``service``   (asked for by name, with ``--data`` a ``bench_features.py`` folder) the feature step in a running
              process on that benchmark's data: what its whole-process pandas and tuned SQL rows compare with.

Snapshots go to a throwaway app store (``SALESFOLIO_STORE_URL`` semantics), so the workspace the web benchmark
serves keeps exactly one. For every child the parent prints the wall time of the whole process, its user and
system CPU (``os.wait4``) and its peak RSS (``VmHWM``, read by the child itself), and the in-process seconds the
child measured. ``--json`` writes everything to a file.
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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_features, when run from anywhere

VARIANTS = ("floor", "stages", "analysis", "run")
PARQUET_BATCH = 1_000_000


# -- the workspace ----------------------------------------------------------------------------------------------
def data_as_of(data: Path) -> dt.date:
    """The ``as_of`` the data were generated for (``summary.json`` of ``bench/gen_data.py``)."""
    summary = json.loads((data / "summary.json").read_text(encoding="utf-8"))
    return dt.date.fromisoformat(summary["as_of"])


def _parquet_tables(data: Path) -> dict[str, Any]:
    """Every canonical table found in ``data``; invoice lines as a lazy iterator of Arrow batches."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from salesfolio.contract import LOAD_ORDER

    def batches(path: Path) -> Iterator[pa.Table]:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=PARQUET_BATCH):
            yield pa.Table.from_batches([batch])

    out: dict[str, Any] = {}
    for name in LOAD_ORDER:
        path = data / f"{name}.parquet"
        if path.exists():
            out[name] = batches(path) if name == "invoice_lines" else pq.read_table(path)
    return out


def build_workspace(data: Path, folder: Path) -> dict[str, Any]:
    """Create the workspace ``folder`` from the Parquet files in ``data``: warehouse, app store, demo logins.

    What ``salesfolio demo`` does (``demo.load`` batch by batch, the demo users), with the tables read from
    Parquet instead of generated again. Returns rows loaded per table.
    """
    from salesfolio import demo
    from salesfolio.cli import DEMO_USERS
    from salesfolio.services.users import create_user
    from salesfolio.workspace import Workspace

    ws = Workspace.init(folder, name="Benchmark manufacturing", reference_date=data_as_of(data).isoformat())
    tables = _parquet_tables(data)
    with ws.warehouse() as wh:
        counts = demo.load(wh, tables)
    first_rep = tables["reps"].slice(0, 1).to_pylist()[0]
    with ws.sessions.begin() as session:
        for username, role, password in DEMO_USERS:
            create_user(
                session,
                username=username,
                password=password,
                role=role,
                full_name=first_rep["name"] if role == "rep" else username.title(),
                rep_id=first_rep["rep_id"] if role == "rep" else None,
                team=first_rep["team"] if role == "manager" else None,
            )
    ws.close()
    return counts


# -- the stage clock --------------------------------------------------------------------------------------------
class StageClock:
    """Wall and CPU seconds per stage, from wrappers put around the functions ``analyse_portfolio`` calls.

    A stage is one call (``span(owner, name, label)``) or runs from the start of one call to the end of another
    (``start`` and ``end``). Only calls made outside any other timed call count, so the features the churn model
    computes at its cut-offs are churn time, not feature time. CPU is the whole process's (all threads).
    """

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._depth = 0
        self._open: dict[str, tuple[float, float]] = {}

    def _add(self, label: str, wall0: float, cpu0: float) -> None:
        self.wall[label] = self.wall.get(label, 0.0) + time.perf_counter() - wall0
        self.cpu[label] = self.cpu.get(label, 0.0) + time.process_time() - cpu0

    def span(self, owner: Any, name: str, label: str, *, nested: bool = True) -> None:
        """Time every top-level call of ``owner.name`` as ``label`` (``nested=False``: a total around others)."""
        inner: Callable[..., Any] = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            if nested and self._depth:
                return inner(*args, **kwargs)
            wall0, cpu0 = time.perf_counter(), time.process_time()
            self._depth += 1 if nested else 0
            try:
                return inner(*args, **kwargs)
            finally:
                self._depth -= 1 if nested else 0
                self._add(label, wall0, cpu0)

        setattr(owner, name, timed)

    def start(self, owner: Any, name: str, label: str) -> None:
        """Open stage ``label`` when ``owner.name`` is called at top level."""
        inner: Callable[..., Any] = getattr(owner, name)

        def marked(*args: Any, **kwargs: Any) -> Any:
            if not self._depth:
                self._open[label] = (time.perf_counter(), time.process_time())
            return inner(*args, **kwargs)

        setattr(owner, name, marked)

    def end(self, owner: Any, name: str, label: str) -> None:
        """Close stage ``label`` when a top-level call of ``owner.name`` returns."""
        inner: Callable[..., Any] = getattr(owner, name)

        def marked(*args: Any, **kwargs: Any) -> Any:
            try:
                return inner(*args, **kwargs)
            finally:
                if not self._depth and label in self._open:
                    self._add(label, *self._open.pop(label))

        setattr(owner, name, marked)


def instrument() -> StageClock:
    """Put the stage clock around the steps of ``analyse_portfolio`` and ``run_analysis``."""
    from salesfolio.analytics import portfolio, segments
    from salesfolio.services import analysis

    clock = StageClock()
    clock.span(analysis, "analyse_portfolio", "analyse_portfolio (all stages)", nested=False)
    clock.span(analysis, "snapshot_rows", "snapshot rows (JSON-ready)")
    clock.span(portfolio, "client_features", "features")
    clock.span(portfolio, "early_warnings", "signals")
    clock.start(portfolio, "category_revenue_expr", "whitespace")
    clock.end(portfolio, "whitespace", "whitespace")
    clock.span(portfolio, "_churn", "churn model + backtest")
    clock.span(portfolio, "revenue_at_risk", "revenue at risk")
    clock.start(portfolio, "score_clients", "scores + segments")
    clock.end(segments, "rfm_scores", "scores + segments")
    clock.span(portfolio, "_forecast", "forecast + backtest")
    clock.span(portfolio, "_details", "details (per-client lists)")
    clock.span(portfolio, "_summary", "summary (KPIs)")
    return clock


# -- children ---------------------------------------------------------------------------------------------------
def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM); ``ru_maxrss`` of a forked child would count the parent's pages."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _throwaway_workspace(folder: Path, store: Path) -> Any:
    """The workspace with its app store redirected to ``store`` (migrated), so benchmark snapshots vanish."""
    from salesfolio.config import Settings
    from salesfolio.store.db import migrate
    from salesfolio.workspace import Workspace

    ws = Workspace.open(folder, Settings(workspace=folder, store_url=f"sqlite:///{store}"))
    migrate(ws.store_engine)
    return ws


def child(variant: str, data: Path, folder: Path, stats: Path) -> None:
    """Run one variant and write its in-process figures to ``stats`` (JSON)."""
    started = time.perf_counter()
    figures: dict[str, Any] = {}
    if variant == "load":
        figures["rows"] = build_workspace(data, folder)
    elif variant == "service":
        figures.update(_features_in_service(data))
    elif variant == "floor":
        import duckdb

        path = data / "invoice_lines.parquet"
        figures["result"] = duckdb.sql(f"SELECT sum(revenue), count(*) FROM read_parquet('{path}')").fetchall()[0]
    else:
        with tempfile.TemporaryDirectory(prefix="bench_analysis_") as tmp:
            ws = _throwaway_workspace(folder, Path(tmp) / "store.sqlite")
            as_of = data_as_of(data)
            figures["imports_s"] = time.perf_counter() - started
            if variant == "stages":
                figures.update(_stages(ws, as_of))
            elif variant == "analysis":
                from salesfolio.analytics.portfolio import analyse_portfolio
                from salesfolio.contract import TABLES

                t0 = time.perf_counter()
                with ws.warehouse() as wh:
                    result = analyse_portfolio({n: wh.table(n) for n in TABLES}, as_of, ws.config.analysis)
                figures["in_process_s"] = time.perf_counter() - t0
                figures["clients"] = len(result.clients)
            elif variant == "churn":
                figures.update(_churn_parts(ws, as_of))
            elif variant == "run":
                from salesfolio.services.analysis import run_analysis

                t0 = time.perf_counter()
                run = run_analysis(ws, as_of=as_of)
                figures["in_process_s"] = time.perf_counter() - t0
                figures["clients"] = len(run.clients)
            else:
                raise SystemExit(f"unknown variant {variant!r}; choose from load, {', '.join(VARIANTS)}")
            ws.close()
    figures["rss_mb"] = _peak_rss_mb()
    stats.write_text(json.dumps(figures, default=str), encoding="utf-8")


def _stages(ws: Any, as_of: dt.date) -> dict[str, Any]:
    """``run_analysis`` under the stage clock, then the feature step again in the same (now warm) process."""
    from salesfolio.analytics.features import client_features
    from salesfolio.contract import TABLES
    from salesfolio.services import analysis

    clock = instrument()
    t0, c0 = time.perf_counter(), time.process_time()
    run = analysis.run_analysis(ws, as_of=as_of)
    total_wall, total_cpu = time.perf_counter() - t0, time.process_time() - c0
    inner = "analyse_portfolio (all stages)"
    stages = {label: {"wall": clock.wall[label], "cpu": clock.cpu[label]} for label in clock.wall}
    named = [k for k in stages if k not in (inner, "snapshot rows (JSON-ready)")]
    stages["other glue in analyse_portfolio"] = {
        "wall": stages[inner]["wall"] - sum(stages[k]["wall"] for k in named),
        "cpu": stages[inner]["cpu"] - sum(stages[k]["cpu"] for k in named),
    }
    stages["snapshot storage (rows + insert + commit)"] = {
        "wall": total_wall - stages[inner]["wall"],
        "cpu": total_cpu - stages[inner]["cpu"],
    }
    stages["run_analysis total"] = {"wall": total_wall, "cpu": total_cpu}
    with ws.warehouse() as wh:
        tables = {n: wh.table(n) for n in TABLES}
        t1, c1 = time.perf_counter(), time.process_time()
        frame = client_features(tables, as_of).frame
        stages["features again, warm (a running service)"] = {
            "wall": time.perf_counter() - t1,
            "cpu": time.process_time() - c1,
        }
    return {"stages": stages, "clients": len(run.clients), "feature_rows": len(frame)}


def _churn_parts(ws: Any, as_of: dt.date) -> dict[str, Any]:
    """The churn step as the analysis runs it, then with the production model forced; CPU per part, metrics."""
    from functools import partial

    from salesfolio.analytics import churn, churn_backtest, portfolio
    from salesfolio.analytics.churn import tables_as_of
    from salesfolio.analytics.features import client_features, invoice_aggregates
    from salesfolio.contract import TABLES

    clock = StageClock()
    clock.span(churn_backtest.CutoffFrames, "features", "feature frames")
    clock.span(churn_backtest, "churn_labels", "labels")
    clock.span(churn_backtest, "churn_population", "population at as_of")
    clock.span(churn.ChurnModel, "fit", "model fits")
    clock.span(churn.ChurnModel, "reasons", "reasons")
    clock.span(churn_backtest, "gain_interval", "bootstrap intervals")
    out: dict[str, Any] = {}
    with ws.warehouse() as wh:
        tables = {n: wh.table(n) for n in TABLES}
        for label in ("as the analysis runs it", "production model forced"):
            clock.wall.clear()
            clock.cpu.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            if label == "as the analysis runs it":
                _, _, report = portfolio._churn(tables, as_of, ws.config.analysis)
                cutoffs = report["cutoffs"]
            else:
                invoices = invoice_aggregates(tables_as_of(tables, as_of)["invoice_lines"], as_of).cache()
                try:
                    feature_fn = partial(client_features, invoices=invoices)
                    backtest, prediction = churn_backtest.churn_report(
                        tables, as_of, feature_fn, ws.config.analysis, only_if_shown=False
                    )
                finally:
                    invoices.release()
                cutoffs = backtest.to_dict()["cutoffs"]
                out["prediction"] = {"status": prediction.status, "clients": len(prediction.frame)}
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            parts = {k: {"wall": clock.wall[k], "cpu": clock.cpu[k]} for k in clock.wall}
            parts["other"] = {
                "wall": wall - sum(p["wall"] for p in parts.values()),
                "cpu": cpu - sum(p["cpu"] for p in parts.values()),
            }
            parts["total"] = {"wall": wall, "cpu": cpu}
            out[label] = parts
        out["backtest"] = [
            {
                "cutoff": c["cutoff"],
                "n_train": c["n_train"],
                "auc": c["scores"]["model"]["auc"],
                "auc_recency": c["scores"]["recency"]["auc"],
                "precision_top": c["scores"]["model"]["precision_at_k"],
                "lost_share": c["scores"]["model"]["lost_revenue_share"],
                "lost_share_size": c["scores"]["size"]["lost_revenue_share"],
                "brier": c["brier"],
                "brier_reference": c["brier_reference"],
            }
            for c in cutoffs
        ]
    return out


def _features_in_service(data: Path, repeats: int = 3) -> dict[str, Any]:
    """salesfolio's feature step on bench_features.py's data, in a running process (imports and engine warm).

    The same Parquet views and ``as_of`` as that benchmark's ``ibis`` row, so its whole-process pandas and tuned
    SQL rows compare with this: one call first (imports, page cache), then the median of ``repeats`` calls.
    """
    import ibis
    from bench_features import AS_OF

    from salesfolio.analytics.features import client_features
    from salesfolio.contract import TABLES

    con = ibis.duckdb.connect()
    tables = {
        n: con.read_parquet(data / f"{n}.parquet", table_name=n) for n in TABLES if (data / f"{n}.parquet").exists()
    }
    client_features(tables, AS_OF)
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        rows = len(client_features(tables, AS_OF).frame)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {"in_process_s": statistics.median(walls), "in_process_cpu_s": statistics.median(cpus), "rows": rows}


def timed(variant: str, data: Path, folder: Path) -> dict[str, Any]:
    """Run one variant in a fresh interpreter: wall, user and system CPU (``os.wait4``), and its own figures."""
    with tempfile.TemporaryDirectory(prefix="bench_analysis_stats_") as tmp:
        stats = Path(tmp) / "stats.json"
        cmd = [sys.executable, __file__, "--child", variant, "--data", str(data), "--workspace", str(folder)]
        cmd += ["--stats", str(stats)]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if status != 0:
            raise SystemExit(f"variant {variant} failed with status {status}")
        figures: dict[str, Any] = json.loads(stats.read_text(encoding="utf-8"))
    figures.update(wall=wall, user=usage.ru_utime, sys=usage.ru_stime, load=os.getloadavg()[0])
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder written by bench/gen_data.py")
    parser.add_argument("--workspace", type=Path, help="workspace folder (default <data>/workspace)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--runs", type=int, default=1, help="timed runs per variant (median reported)")
    parser.add_argument("--pause", type=float, default=10.0, help="seconds to wait before each timed run")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    folder = (args.workspace or args.data / "workspace").resolve()
    if args.child:
        child(args.child, args.data.resolve(), folder, args.stats)
        return 0

    data = args.data.resolve()
    if args.variants == "service":
        time.sleep(args.pause)
        r = timed("service", data, folder)
        print(f"features in a running service: {r['in_process_s']:.3f} s (CPU {r['in_process_cpu_s']:.3f} s), "
              f"{r['rows']:,} clients; process peak RSS {r['rss_mb']:.0f} MB")  # fmt: skip
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"service": r}, indent=2) + "\n", encoding="utf-8")
        return 0
    results: dict[str, Any] = {"data": str(data), "as_of": data_as_of(data).isoformat(), "machine": _machine()}
    if not (folder / "salesfolio.toml").exists():
        load = timed("load", data, folder)
        results["load"] = load
        print(f"load Parquet -> workspace: wall {load['wall']:.1f} s, user {load['user']:.1f}, sys {load['sys']:.1f}, "
              f"peak RSS {load['rss_mb']:.0f} MB, rows {load['rows']}", flush=True)  # fmt: skip
    timed("floor", data, folder)  # warm the page cache
    runs: dict[str, list[dict[str, Any]]] = {}
    for run in range(args.runs):
        for variant in [v for v in args.variants.split(",") if v]:
            time.sleep(args.pause)
            r = timed(variant, data, folder)
            runs.setdefault(variant, []).append(r)
            inner = f", in process {r['in_process_s']:.2f} s" if "in_process_s" in r else ""
            print(f"run {run + 1} {variant:9s} wall {r['wall']:7.2f} s  user {r['user']:7.2f}  sys {r['sys']:6.2f}  "
                  f"rss {r['rss_mb']:6.0f} MB  load {r['load']:.1f}{inner}", flush=True)  # fmt: skip
            if variant == "stages":
                _print_stages(r["stages"])
            if variant == "churn":
                _print_churn(r)
    results["runs"] = runs
    results["median"] = {
        v: {k: statistics.median(r[k] for r in rs) for k in ("wall", "user", "sys", "rss_mb")} for v, rs in runs.items()
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


def _print_stages(stages: dict[str, dict[str, float]]) -> None:
    print(f"    {'stage':45s} {'wall s':>8s} {'CPU s':>8s}")
    for label, s in stages.items():
        print(f"    {label:45s} {s['wall']:8.2f} {s['cpu']:8.2f}")


def _print_churn(r: dict[str, Any]) -> None:
    for label in ("as the analysis runs it", "production model forced"):
        print(f"    churn step, {label}:")
        _print_stages(r[label])
    for c in r["backtest"]:
        print(f"    backtest {c['cutoff']}: AUC {c['auc']:.4f} (recency {c['auc_recency']:.4f}), precision top 10 % "
              f"{c['precision_top']:.4f}, lost revenue held {c['lost_share']:.4f} (size {c['lost_share_size']:.4f}), "
              f"Brier {c['brier']:.5f} (base rate {c['brier_reference']:.5f}), {c['n_train']} rows")  # fmt: skip


def _machine() -> dict[str, Any]:
    import platform

    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "load_at_start": os.getloadavg(),
        "date": dt.datetime.now().isoformat(timespec="minutes"),
    }


if __name__ == "__main__":
    raise SystemExit(main())
