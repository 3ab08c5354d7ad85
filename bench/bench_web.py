"""Load benchmark of the web app on a large workspace: p50 / p95 / p99 per page and API list, measured with wrk.

Usage::

    apt-get install -y wrk                                           # Debian's package; the load tool
    .venv/bin/python bench/bench_web.py --data bench/data/10m        # reuse (or build) <data>/workspace
    .venv/bin/python bench/bench_web.py --clients 100000 --workspace bench/data/web-100k   # salesfolio demo
    .venv/bin/python bench/bench_web.py --data bench/data/1m --duration 3 --connections 1   # quick

The workspace: ``<data>/workspace`` as :mod:`bench_analysis` builds it from the Parquet files of
``bench/gen_data.py``, or a new one made by ``salesfolio demo --clients N --no-analyze``. When it holds no snapshot
yet, one analysis runs first (``run_analysis``, timed). Then ``salesfolio serve`` starts on 127.0.0.1 on a free
port (one uvicorn process, as users run it), the benchmark logs in as ``--user`` (default ``admin``: the widest
scope, so the largest lists), and every GET page and API route of the app (read from the app's route table, path
parameters filled with the largest client) plus the list variants users click (next page, last page, sort by
score, a search, a filter, the HTMX table refresh) is loaded with wrk for ``--duration`` seconds at each
``--connections`` level (default 1 and 4), its Lua script carrying the session cookie and writing the latency
percentiles. Exports (CSV, XLSX of the whole list) are downloads, not pages: measured once each, not loaded.

``--cpu N`` measures instead the CPU time (user + sys) of each route's request in process (FastAPI's TestClient,
no server, no wrk): the first request, then the median of N warm ones; a steadier figure than wall latency on a
shared machine. ``--only`` (comma-separated substrings of a route's label or path) limits either mode to those
routes, e.g. ``--only /team,search``.

Traffic goes to 127.0.0.1 only; every wrk run is bounded by ``--duration`` and the server is stopped at the end.
Prints a table per route (status, body size, the first request's time, requests/s, p50, p95, p99, and whether
p95 < ``--target-ms``, default 150) and ``--json`` writes it all.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.cookiejar
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

SESSION_COOKIE = "salesfolio_session"
TARGET_MS = 150.0
SKIP_PREFIXES = ("/static", "/logout", "/language", "/login")  # /login redirects a logged-in user
DOWNLOADS = ("/exports/",)

LUA = """
wrk.method = "GET"
wrk.headers["Cookie"] = "%(cookie)s"
%(headers)s
done = function(summary, latency, requests)
  io.write(string.format(
    "WRKJSON {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"bytes\\": %%d, \\"p50_us\\": %%d, \\"p95_us\\": %%d, " ..
    "\\"p99_us\\": %%d, \\"max_us\\": %%d, \\"status_errors\\": %%d, \\"connect_errors\\": %%d, " ..
    "\\"read_errors\\": %%d, \\"timeouts\\": %%d}\\n",
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.timeout))
end
"""


@dataclass
class Route:
    """One address to load: its path with query string, a label, extra request headers."""

    label: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    download: bool = False


# -- the workspace ----------------------------------------------------------------------------------------------
def ensure_workspace(folder: Path, data: Path | None, clients: int, years: int, as_of: dt.date) -> None:
    """Build the workspace when ``folder`` holds none: from Parquet (``data``) or with ``salesfolio demo``."""
    if (folder / "salesfolio.toml").exists():
        return
    started = time.perf_counter()
    if data is not None and (data / "invoice_lines.parquet").exists():
        from bench_analysis import build_workspace

        rows = build_workspace(data, folder)
        print(f"workspace built from {data} in {time.perf_counter() - started:.1f} s: {rows}", flush=True)
        return
    demo = [_salesfolio(), "demo", str(folder), "--clients", str(clients), "--years", str(years)]
    subprocess.run([*demo, "--as-of", as_of.isoformat(), "--no-analyze"], check=True, stdout=subprocess.DEVNULL)
    print(f"salesfolio demo --clients {clients}: {time.perf_counter() - started:.1f} s", flush=True)


def ensure_snapshot(folder: Path) -> dict[str, Any]:
    """The latest snapshot's id and size; runs (and times) an analysis first when there is none."""
    from sqlalchemy import func, select

    from salesfolio.services.analysis import latest_snapshot_id, run_analysis
    from salesfolio.store.models import SnapshotClient
    from salesfolio.workspace import Workspace

    ws = Workspace.open(folder)
    try:
        figures: dict[str, Any] = {}
        snapshot_id = latest_snapshot_id(ws)
        if snapshot_id is None:
            started = time.perf_counter()
            snapshot_id = run_analysis(ws, as_of=ws.as_of()).snapshot_id
            figures["analysis_s"] = time.perf_counter() - started
            print(f"analysis stored as snapshot {snapshot_id} in {figures['analysis_s']:.1f} s", flush=True)
        with ws.sessions() as session:
            figures["clients"] = session.scalar(
                select(func.count()).select_from(SnapshotClient).where(SnapshotClient.snapshot_id == snapshot_id)
            )
            top = session.execute(
                select(SnapshotClient.client_id, SnapshotClient.name, SnapshotClient.segment, SnapshotClient.owner_id)
                .where(SnapshotClient.snapshot_id == snapshot_id)
                .order_by(SnapshotClient.revenue_ttm.desc().nulls_last(), SnapshotClient.client_id)
                .limit(1)
            ).one()
        figures.update(snapshot_id=snapshot_id, top_client=top.client_id, top_name=top.name,
                       top_segment=top.segment, top_owner=top.owner_id)  # fmt: skip
        return figures
    finally:
        ws.close()


def _salesfolio() -> str:
    return str(Path(sys.executable).with_name("salesfolio"))


# -- routes -----------------------------------------------------------------------------------------------------
def discover_routes(folder: Path, snapshot: dict[str, Any]) -> tuple[list[Route], list[str]]:
    """Every GET route of the app (from its route table), with path parameters filled; and those skipped."""
    from starlette.routing import Route as StarletteRoute

    from salesfolio.web.app import create_app
    from salesfolio.workspace import Workspace

    ws = Workspace.open(folder)
    app = create_app(ws)
    client = urllib.parse.quote(str(snapshot["top_client"]), safe="")
    routes: list[Route] = []
    skipped: list[str] = []
    for path, route in _walk(app.routes, ""):
        if not isinstance(route, StarletteRoute) or "GET" not in (route.methods or set()):
            continue
        if path.startswith(SKIP_PREFIXES):
            continue
        filled = path.replace("{client_id:path}", client).replace("{client_id}", client)
        if "{" in filled:
            skipped.append(f"{path} (a path parameter the benchmark cannot fill)")
            continue
        routes.append(Route(path, filled, download=filled.startswith(DOWNLOADS)))
    ws.close()
    routes.extend(list_variants(snapshot))
    return routes, skipped


def _walk(routes: list[Any], prefix: str) -> list[tuple[str, Any]]:
    """(full path, route) of every route, through included routers (FastAPI keeps them as wrappers)."""
    out: list[tuple[str, Any]] = []
    for route in routes:
        router = getattr(route, "original_router", None)
        if router is not None:
            context = getattr(route, "include_context", None)
            out.extend(_walk(list(router.routes), prefix + str(getattr(context, "prefix", "") or "")))
        elif hasattr(route, "path"):
            out.append((prefix + route.path, route))
    return out


def list_variants(snapshot: dict[str, Any]) -> list[Route]:
    """The client-list states users click through, on the page and in the API."""
    search = str(snapshot["top_name"]).split()[0][:6]
    segment = urllib.parse.quote(str(snapshot["top_segment"] or ""))
    htmx = {"HX-Request": "true", "HX-Target": "clients-table"}
    out = [
        Route("/clients page 2", "/clients?page=2"),
        Route("/clients last page", "/clients?page=100000"),
        Route("/clients sorted by score", "/clients?sort=score&order=desc"),
        Route("/clients sorted by name", "/clients?sort=name&order=asc"),
        Route(f"/clients search '{search}'", f"/clients?q={urllib.parse.quote(search)}"),
        Route("/clients filter segment", f"/clients?segment={segment}"),
        Route("/clients table (HTMX) page 3", "/clients?page=3", htmx),
        Route("/segments zones view", "/segments?view=zones"),
        Route("/segments/deals zone A", "/segments/deals?zone=A"),
        Route("/segments heatmap rows by owner", "/segments?view=heatmap&segmentation=segment&by=owner"),
        Route("/segments cost-to-serve view", "/segments?view=cts"),
        Route("/api/clients page 2", "/api/clients?page=2"),
        Route("/api/clients last page", "/api/clients?page=100000"),
        Route("/api/clients sorted by score", "/api/clients?sort=score&order=desc"),
        Route(f"/api/clients search '{search}'", f"/api/clients?q={urllib.parse.quote(search)}"),
    ]
    return out


# -- CPU per request, in process ----------------------------------------------------------------------------------
def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_per_request(
    folder: Path, routes: list[Route], username: str, password: str, repeats: int
) -> list[dict[str, Any]]:
    """CPU seconds (user + sys) of each route's request, in this process through FastAPI's TestClient.

    Wall time on a shared 2-core machine moves with the neighbours' load; the process's CPU time does not (much).
    Per route: the first request (what a new snapshot, scope or client costs: caches empty), then the median of
    ``repeats`` more after one warm-up (a running service).
    """
    from fastapi.testclient import TestClient

    from salesfolio.web.app import create_app
    from salesfolio.workspace import Workspace

    ws = Workspace.open(folder)
    try:
        http = TestClient(create_app(ws), follow_redirects=False)
        html = http.get("/login").text
        token = re.search(r'name="csrf_token"\s+value="([^"]+)"', html) or re.search(
            r'value="([^"]+)"\s+name="csrf_token"', html
        )
        if token is None:
            raise SystemExit("no csrf_token field on the login page")
        form = {"username": username, "password": password, "next": "/", "csrf_token": token.group(1)}
        if http.post("/login", data=form).status_code != 303:
            raise SystemExit(f"login as {username} failed")
        out = []
        for route in routes:
            if route.download:
                continue
            started = _cpu_seconds()
            response = http.get(route.path, headers=route.headers)
            first = _cpu_seconds() - started
            http.get(route.path, headers=route.headers)
            times = []
            for _ in range(repeats):
                started = _cpu_seconds()
                http.get(route.path, headers=route.headers)
                times.append(_cpu_seconds() - started)
            out.append({"label": route.label, "path": route.path, "status": response.status_code,
                        "bytes": len(response.content), "first_cpu_ms": first * 1000,
                        "cpu_ms": statistics.median(times) * 1000})  # fmt: skip
            warm = statistics.median(times) * 1000
            print(f"{route.label[:42]:42s} {response.status_code:6d} {len(response.content) / 1024:7.0f} "
                  f"first {first * 1000:7.1f} ms  warm {warm:7.1f} ms CPU", flush=True)  # fmt: skip
        return out
    finally:
        ws.close()


# -- the server -------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(folder: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``salesfolio serve`` on 127.0.0.1:port; returns when it answers ``/login``."""
    out = log.open("wb")
    proc = subprocess.Popen(
        [_salesfolio(), "serve", "--workspace", str(folder), "--host", "127.0.0.1", "--port", str(port)],
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"salesfolio serve exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as response:
                if response.status == 200:
                    return proc
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit("salesfolio serve did not answer within 90 s")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def login(base: str, username: str, password: str) -> str:
    """Log in through the form (CSRF token from the login page); returns the session cookie's value."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())
    with opener.open(f"{base}/login") as response:
        html = response.read().decode("utf-8")
    found = re.search(r'name="csrf_token"\s+value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"\s+name="csrf_token"', html
    )
    if found is None:
        raise SystemExit("no csrf_token field on the login page")
    form = urllib.parse.urlencode(
        {"username": username, "password": password, "next": "/", "csrf_token": found.group(1)}
    ).encode()
    try:
        opener.open(urllib.request.Request(f"{base}/login", data=form, method="POST"))  # noqa: S310 - http://127.0.0.1
    except urllib.error.HTTPError as exc:
        if exc.code != 303:
            raise SystemExit(f"login as {username} failed with HTTP {exc.code}") from None
    for cookie in jar:
        if cookie.name == SESSION_COOKIE:
            return str(cookie.value)
    raise SystemExit("no session cookie after login")


def first_request(base: str, route: Route, cookie: str) -> dict[str, Any]:
    """One request outside the load (status, body size, milliseconds): the first, cold view of the route."""
    opener = urllib.request.build_opener(_NoRedirect())
    headers = {"Cookie": f"{SESSION_COOKIE}={cookie}", **route.headers}
    request = urllib.request.Request(base + route.path, headers=headers)  # noqa: S310 - always http://127.0.0.1
    started = time.perf_counter()
    try:
        with opener.open(request, timeout=120) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    return {"status": status, "bytes": len(body), "first_ms": (time.perf_counter() - started) * 1000}


def run_wrk(base: str, route: Route, cookie: str, connections: int, duration: float, folder: Path) -> dict[str, Any]:
    """wrk on one route: one thread, ``connections`` connections, ``duration`` seconds; the percentiles in ms."""
    headers = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in route.headers.items())
    script = folder / "bench.lua"
    script.write_text(LUA % {"cookie": f"{SESSION_COOKIE}={cookie}", "headers": headers}, encoding="utf-8")
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "30s", "-s", str(script)]
    out = subprocess.run([*cmd, base + route.path], capture_output=True, text=True, check=True, timeout=duration + 60)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no summary for {route.path}:\n{out.stdout}\n{out.stderr}")
    raw = json.loads(line.removeprefix("WRKJSON "))
    seconds = raw["duration_us"] / 1e6
    return {
        "connections": connections,
        "requests": raw["requests"],
        "rps": raw["requests"] / seconds if seconds else 0.0,
        "p50_ms": raw["p50_us"] / 1000,
        "p95_ms": raw["p95_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "errors": raw["status_errors"] + raw["connect_errors"] + raw["read_errors"] + raw["timeouts"],
    }


def _server_rss_mb(pid: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmHWM:", "VmRSS:")):
            out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


# -- main -------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="folder written by bench/gen_data.py (workspace built from it)")
    parser.add_argument("--workspace", type=Path, help="workspace folder (default <data>/workspace)")
    parser.add_argument("--clients", type=int, default=100_000, help="without --data: salesfolio demo --clients")
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2025, 12, 31))
    parser.add_argument("--user", default="admin", help="demo login to measure as (admin, board, manager, rep)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of load per route and level")
    parser.add_argument("--connections", default="1,4", help="concurrent connections, one wrk run per level")
    parser.add_argument("--target-ms", type=float, default=TARGET_MS)
    parser.add_argument("--only", default="", help="comma-separated substrings: measure matching routes only")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--cpu", type=int, default=0, metavar="N",
                        help="no load test: CPU per request in process (first, then median of N warm)")  # fmt: skip
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None and not args.cpu:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (Debian package)")
    if args.workspace is None and args.data is None:
        raise SystemExit("give --data (a bench/gen_data.py folder) or --workspace")
    folder = (args.workspace or args.data / "workspace").resolve()
    ensure_workspace(folder, args.data.resolve() if args.data else None, args.clients, args.years, args.as_of)
    snapshot = ensure_snapshot(folder)
    routes, skipped = discover_routes(folder, snapshot)
    if args.only:
        wanted = [w for w in args.only.split(",") if w]
        routes = [r for r in routes if any(w in r.label or w in r.path for w in wanted)]
    levels = [int(c) for c in args.connections.split(",") if c]
    from salesfolio.cli import DEMO_USERS

    password = next(p for u, _, p in DEMO_USERS if u == args.user)
    if args.cpu:
        figures = {"workspace": str(folder), "snapshot": snapshot, "user": args.user, "repeats": args.cpu,
                   "routes": cpu_per_request(folder, routes, args.user, password, args.cpu)}  # fmt: skip
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")
        return 0
    results: dict[str, Any] = {"workspace": str(folder), "snapshot": snapshot, "skipped": skipped, "routes": []}
    results["machine"] = {"cpus": os.cpu_count(), "load_at_start": os.getloadavg(), "user": args.user,
                          "date": dt.datetime.now().isoformat(timespec="minutes")}  # fmt: skip
    print(f"snapshot {snapshot['snapshot_id']}: {snapshot['clients']:,} clients; user {args.user}; "
          f"{len(routes)} routes x connections {levels}, {args.duration:g} s each", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench_web_") as tmp:
        port = free_port()
        server = start_server(folder, port, Path(tmp) / "server.log")
        try:
            base = f"http://127.0.0.1:{port}"
            cookie = login(base, args.user, password)
            header = f"{'route':42s} {'status':>6s} {'KB':>7s} {'first ms':>8s}"
            for c in levels:
                header += f" | c={c}: {'req/s':>6s} {'p50':>6s} {'p95':>6s} {'p99':>6s}"
            print(header)
            for route in routes:
                row: dict[str, Any] = {"label": route.label, "path": route.path, "download": route.download}
                row.update(first_request(base, route, cookie))
                row["levels"] = []
                if row["status"] == 200 and not route.download:
                    first_request(base, route, cookie)  # a second warm-up: caches filled as in a running service
                    for c in levels:
                        row["levels"].append(run_wrk(base, route, cookie, c, args.duration, Path(tmp)))
                p95 = [lv["p95_ms"] for lv in row["levels"]]
                row["meets_target"] = bool(p95) and max(p95) < args.target_ms
                results["routes"].append(row)
                line = f"{route.label[:42]:42s} {row['status']:6d} {row['bytes'] / 1024:7.0f} {row['first_ms']:8.0f}"
                for lv in row["levels"]:
                    line += f" | c={lv['connections']}: {lv['rps']:6.1f} {lv['p50_ms']:6.0f} {lv['p95_ms']:6.0f} "
                    line += f"{lv['p99_ms']:6.0f}" + (f" ({lv['errors']} errors)" if lv["errors"] else "")
                if row["levels"]:
                    line += "  ok" if row["meets_target"] else f"  p95 >= {args.target_ms:g} ms"
                elif route.download:
                    line += "  (download: one request)"
                print(line, flush=True)
            results["server_memory_mb"] = _server_rss_mb(server.pid)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    missed = [r["label"] for r in results["routes"] if r["levels"] and not r["meets_target"]]
    failed = [f"{r['label']} (HTTP {r['status']})" for r in results["routes"] if r["status"] != 200]
    print(f"server peak RSS {results['server_memory_mb'].get('VmHWM', 0):.0f} MB")
    measured = [r for r in results["routes"] if r["levels"]]
    print(f"p95 < {args.target_ms:g} ms at every level: {len(measured) - len(missed)} of {len(measured)} routes; "
          f"missed: {', '.join(missed) or 'none'}; not 200: {', '.join(failed) or 'none'}")  # fmt: skip
    if skipped:
        print("skipped: " + "; ".join(skipped))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
