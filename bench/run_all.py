"""The whole benchmark suite in one command: data, import, features, analysis, models and web, then the targets.

Usage (``make bench`` runs the first)::

    .venv/bin/python bench/run_all.py                      # 1 M and 10 M invoice lines
    .venv/bin/python bench/run_all.py --size 1m --quick    # a few minutes: one run each, short pauses
    .venv/bin/python bench/run_all.py --size 10m --steps analysis,web

Sizes: ``1m`` is 10,000 clients x 3 years (about 1 M invoice lines), ``10m`` 100,000 clients x 3 years (about
10 M). Steps, each a script of bench/ run as its own process (so each measures its own children):

``data``      bench/gen_data.py: the demo company's tables as Parquet under bench/data/<size> (once; reused);
``import``    bench/bench_import.py: a generated ERP-export CSV of the same number of lines through the importer;
``features``  bench/bench_features.py: salesfolio's feature step against a plain Parquet scan (the machine's
              floor), the same features in tuned DuckDB SQL (this engine's floor) and idiomatic pandas, each a
              whole process; then bench_analysis.py ``service``: the feature step inside a running process on the
              same data;
``analysis``  bench/bench_analysis.py: each stage of the analysis in one process, the whole analysis
              (``analyse_portfolio``) and ``run_analysis`` (with the snapshot) each in a fresh one;
``models``    bench/bench_clv.py: the BG/NBD fit on as many clients as the size has (PyMC-Marketing beside it
              when installed);
``web``       bench/bench_web.py: every page and API list of ``salesfolio serve`` on the size's workspace, with wrk.

Every step's output goes to bench/results/<size>-<step>.log (and .json where the script writes one); the end
prints the figures the targets of docs/benchmarks.md are about, each with its verdict. The machine's load average
is printed before each step: on a shared machine, compare only figures of one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
SIZES = {"1m": {"clients": 10_000, "lines": 1_000_000}, "10m": {"clients": 100_000, "lines": 10_000_000}}
STEPS = ("data", "import", "features", "analysis", "models", "web")
TARGETS = {
    "feature step, whole process (s)": 2.0,
    "feature step / tuned SQL, same run": 1.0,
    "pandas (whole process) / feature step in a running service": 10.0,
    "feature step peak RSS (MB)": 500.0,
    "whole analysis, 10 M lines (s)": 8.0,
    "web p95 (ms), every page and API list": 150.0,
}


def run_step(size: str, step: str, command: list[str], results: Path) -> str:
    """Run one benchmark script, its output shown and kept in results/<size>-<step>.log; returns the output."""
    log = results / f"{size}-{step}.log"
    load = os.getloadavg()
    print(f"\n=== {size} {step} (load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}) ===", flush=True)
    print("$ " + " ".join(command), flush=True)
    started = time.perf_counter()
    lines: list[str] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=BENCH.parent) as p:
        assert p.stdout is not None
        for line in p.stdout:
            print(line, end="", flush=True)
            lines.append(line)
    output = "".join(lines)
    log.write_text(output, encoding="utf-8")
    if p.returncode != 0:
        raise SystemExit(f"{step} ({size}) failed with exit code {p.returncode}; see {log}")
    print(f"--- {step} took {time.perf_counter() - started:.0f} s", flush=True)
    return output


def commands(size: str, args: argparse.Namespace, results: Path) -> dict[str, list[str]]:
    """The command line of every step for ``size``."""
    spec = SIZES[size]
    data = BENCH / "data" / size
    runs = "1" if args.quick else str(args.runs)
    pause = "3" if args.quick else str(args.pause)
    return {
        "data": [PYTHON, str(BENCH / "gen_data.py"), "--clients", str(spec["clients"]), "--years", "3",
                 "--out", str(data)],
        "import": [PYTHON, str(BENCH / "bench_import.py"), "--lines", str(spec["lines"])],
        "features": [PYTHON, str(BENCH / "bench_features.py"), "--lines", str(spec["lines"]), "--clients",
                     str(spec["clients"]), "--runs", runs, "--pause", pause, "--keep",
                     str(BENCH / "data" / f"features-{size}")],
        "service": [PYTHON, str(BENCH / "bench_analysis.py"), "--data", str(BENCH / "data" / f"features-{size}"),
                    "--variants", "service", "--pause", pause, "--json", str(results / f"{size}-service.json")],
        "analysis": [PYTHON, str(BENCH / "bench_analysis.py"), "--data", str(data), "--runs",
                     "1" if args.quick else str(args.analysis_runs), "--pause", pause,
                     "--json", str(results / f"{size}-analysis.json")],
        "models": [PYTHON, str(BENCH / "bench_clv.py"), "--clients", str(spec["clients"]), "--repeats",
                   "1" if args.quick else "3"],
        "web": [PYTHON, str(BENCH / "bench_web.py"), "--data", str(data), "--duration", "3" if args.quick else "8",
                "--connections", "1" if args.quick else "1,4", "--json", str(results / f"{size}-web.json")],
    }  # fmt: skip


def features_summary(output: str) -> dict[str, Any] | None:
    """The JSON summary line bench_features.py prints (median wall, user, sys, RSS per implementation)."""
    for line in reversed(output.splitlines()):
        if line.startswith('{"lines"'):
            found: dict[str, Any] = json.loads(line)
            return found
    return None


def verdicts(size: str, figures: dict[str, Any], results: Path) -> list[tuple[str, str, str]]:
    """(what, measured, verdict) for the targets the figures of ``size`` speak to."""
    out: list[tuple[str, str, str]] = []

    def check(name: str, value: float, fmt: str, lower_is_better: bool = True) -> None:
        target = TARGETS[name]
        ok = value <= target if lower_is_better else value >= target
        sign = "<=" if lower_is_better else ">="
        out.append((f"{size}: {name}", fmt.format(value), f"{'met' if ok else 'NOT met'} (target {sign} {target:g})"))

    feats = figures.get("features")
    if feats:
        s = feats["summary"]
        if "ibis" in s:
            check("feature step, whole process (s)", s["ibis"]["wall"], "{:.2f}")
            check("feature step peak RSS (MB)", s["ibis"]["rss"], "{:.0f}")
            if "sql" in s:
                # Judged on CPU (user + sys): both run DuckDB on the same cores, and on a shared machine their walls
                # include waiting for a core; the wall ratio is shown beside it.
                cpu = (s["ibis"]["user"] + s["ibis"]["sys"]) / (s["sql"]["user"] + s["sql"]["sys"])
                wall = s["ibis"]["wall"] / s["sql"]["wall"]
                check("feature step / tuned SQL, same run", cpu, "{:.2f}x CPU" + f" ({wall:.2f}x wall)")
        service = results / f"{size}-service.json"
        if "pandas" in s and service.exists():
            inside = json.loads(service.read_text(encoding="utf-8"))["service"]
            cpu = (s["pandas"]["user"] + s["pandas"]["sys"]) / inside["in_process_cpu_s"]
            wall = s["pandas"]["wall"] / inside["in_process_s"]
            name = "pandas (whole process) / feature step in a running service"
            check(name, wall, "{:.1f}x wall" + f" ({cpu:.1f}x CPU)", lower_is_better=False)
    analysis = results / f"{size}-analysis.json"
    if "analysis" in figures and analysis.exists() and size == "10m":
        median = json.loads(analysis.read_text(encoding="utf-8"))["median"]
        if "analysis" in median:
            check("whole analysis, 10 M lines (s)", median["analysis"]["wall"], "{:.1f}")
    web = results / f"{size}-web.json"
    if "web" in figures and web.exists():
        routes = json.loads(web.read_text(encoding="utf-8"))["routes"]
        worst = max((lv["p95_ms"] for r in routes for lv in r["levels"]), default=0.0)
        check("web p95 (ms), every page and API list", worst, "{:.0f} (worst route)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("1m", "10m", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="one run of each, 3 s pauses, short web loads")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated subset of {', '.join(STEPS)}")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each feature implementation (median)")
    parser.add_argument("--analysis-runs", type=int, default=1, help="timed runs of each analysis variant (median)")
    parser.add_argument("--pause", type=float, default=10.0, help="seconds of rest before each timed run")
    parser.add_argument("--results", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    steps = [s for s in args.steps.split(",") if s]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        raise SystemExit(f"unknown step(s) {', '.join(unknown)}; choose from {', '.join(STEPS)}")
    sizes = ["1m", "10m"] if args.size == "both" else [args.size]
    args.results.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now()
    print(f"salesfolio benchmarks, {started:%Y-%m-%d %H:%M}, {os.cpu_count()} CPUs, sizes {sizes}, steps {steps}")
    table: list[tuple[str, str, str]] = []
    for size in sizes:
        cmd = commands(size, args, args.results)
        figures: dict[str, Any] = {}
        needs_data = {"data", "analysis", "web"} & set(steps)
        if needs_data and not (BENCH / "data" / size / "summary.json").exists():
            run_step(size, "data", cmd["data"], args.results)
        for step in steps:
            if step == "data":
                continue
            output = run_step(size, step, cmd[step], args.results)
            figures[step] = output
            if step == "features":
                figures["features"] = features_summary(output)
                run_step(size, "service", cmd["service"], args.results)
        table.extend(verdicts(size, figures, args.results))
    print(f"\n=== targets ({started:%Y-%m-%d %H:%M}, load average now {os.getloadavg()[0]:.1f}) ===")
    for what, value, verdict in table:
        print(f"{what:75s} {value:>22s}  {verdict}")
    stamp = re.sub(r"[^0-9]", "", started.isoformat(timespec="minutes"))
    (args.results / f"targets-{stamp}.json").write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
