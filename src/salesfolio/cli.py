"""The ``salesfolio`` command line (Typer + Rich).

Every command works on a workspace folder: ``--workspace/-w`` (or ``SALESFOLIO_WORKSPACE``), by default the
current folder. Heavy modules are imported inside the commands so that ``salesfolio --help`` stays instant.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from salesfolio import __version__
from salesfolio.config import ConfigError, Settings
from salesfolio.workspace import Workspace

app = typer.Typer(
    name="salesfolio",
    help="Sales Portfolio Management for B2B companies: import, analyse, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
user_app = typer.Typer(help="Manage users of the web app.", no_args_is_help=True)
app.add_typer(user_app, name="user")

console = Console()
err_console = Console(stderr=True)

WorkspaceOpt = Annotated[
    Path,
    typer.Option("--workspace", "-w", envvar="SALESFOLIO_WORKSPACE", help="Workspace folder.", show_default=True),
]
AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help='Reference date YYYY-MM-DD (default: the workspace\'s, or "today").')
]

DEMO_USERS = (
    ("admin", "admin", "demo-admin"),
    ("board", "board", "demo-board"),
    ("manager", "manager", "demo-manager"),
    ("rep", "rep", "demo-rep"),
)
"""(username, role, password) created by ``salesfolio demo``: demo logins only, printed to the user."""


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error in red and return the exit to raise."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def open_workspace(path: Path) -> Workspace:
    """Open the workspace or exit with the reason."""
    try:
        return Workspace.open(path, Settings(workspace=path))
    except ConfigError as exc:
        raise fail(str(exc)) from None


def parse_date(value: str | None, option: str) -> dt.date | None:
    """Parse an ISO date option, exiting with a clear message when it is not one."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} must be a date YYYY-MM-DD, not {value!r}") from None


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        console.print(f"salesfolio {__version__}")
        raise typer.Exit()


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="Folder to create the workspace in.")],
    name: Annotated[str, typer.Option(help="Company or workspace name.")] = "salesfolio workspace",
    currency: Annotated[str, typer.Option(help="ISO currency code of all money in this workspace.")] = "PLN",
    language: Annotated[str, typer.Option(help="Default language: en or pl.")] = "en",
) -> None:
    """Create a workspace: salesfolio.toml, a DuckDB warehouse and a SQLite app store."""
    try:
        ws = Workspace.init(folder, name=name, currency=currency.upper(), language=language)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    console.print(f"Workspace created in [bold]{ws.path}[/]. Next: salesfolio import FILES -w {folder}")


@app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (CSV, TXT, XLSX, XLS, Parquet, .gz, .zip).")],
    workspace: WorkspaceOpt = Path("."),
    table: Annotated[str | None, typer.Option("--table", "-t", help="Canonical table for all files.")] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", "-m", help="Mapping file (TOML).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only; load nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Import files into the warehouse: map, validate, load all-or-nothing."""
    from salesfolio.ingest import run_import
    from salesfolio.ingest.progress import rich_progress
    from salesfolio.services import audit

    ws = open_workspace(workspace)
    if mapping is not None and not mapping.is_file():
        raise fail(f"{mapping}: mapping file not found")
    with ws.warehouse() as wh, rich_progress(console) as progress:
        report = run_import(wh, paths, table=table, mapping=mapping, dry_run=dry_run, progress=progress)
    if as_json:
        console.print_json(json.dumps(report.to_dict(), default=str))
    else:
        console.print(report.render_text(), highlight=False, markup=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)
    if not dry_run:
        with ws.sessions.begin() as session:
            audit.record(
                session, "import", object_type="warehouse", files=[str(p) for p in paths], loaded=report.loaded
            )


@app.command()
def quality(
    workspace: WorkspaceOpt = Path("."),
    html: Annotated[Path | None, typer.Option("--html", help="Also write the report as an HTML page.")] = None,
    as_of: AsOfOpt = None,
) -> None:
    """Report what is missing or doubtful in the data, with counts and examples."""
    from salesfolio.quality import assess
    from salesfolio.reports.quality import rich_table

    ws = open_workspace(workspace)
    ref = parse_date(as_of, "--as-of") or ws.as_of()
    with ws.warehouse(read_only=False) as wh:
        report = assess(wh, as_of=ref)
    console.print(rich_table(report))
    target = html or ws.path / "quality.html"
    target.write_text(report.to_html(), encoding="utf-8")
    console.print(f"HTML report: {target}")


@app.command()
def demo(
    folder: Annotated[Path, typer.Argument(help="Workspace folder to create.")] = Path("demo-workspace"),
    clients: Annotated[int, typer.Option(min=10, help="Number of clients.")] = 400,
    years: Annotated[int, typer.Option(min=1, max=10, help="Years of invoice history.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 42,
    as_of: AsOfOpt = None,
    analyze_: Annotated[bool, typer.Option("--analyze/--no-analyze", help="Run an analysis afterwards.")] = True,
) -> None:
    """Create a demo workspace with a realistic B2B manufacturer, its users and a first analysis."""
    from salesfolio import demo as demo_data
    from salesfolio.services.users import create_user

    ref = parse_date(as_of, "--as-of") or _last_month_end(dt.date.today())
    try:
        ws = Workspace.init(folder, name="Demo manufacturing", reference_date=ref.isoformat())
    except ConfigError as exc:
        raise fail(str(exc)) from None
    with console.status(f"Generating {clients} clients over {years} years..."):
        tables = demo_data.generate_streaming(clients=clients, years=years, seed=seed, as_of=ref)
        with ws.warehouse() as wh:
            counts = demo_data.load(wh, tables)
    summary = Table("table", "rows", title="Demo data loaded")
    for name, n in counts.items():
        summary.add_row(name, f"{n:,}")
    console.print(summary)
    reps_table = tables["reps"]
    reps = reps_table.to_pylist() if isinstance(reps_table, pa.Table) else []  # only invoice lines stream
    first_rep = reps[0]
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
    logins = Table("username", "password", "role", "sees", title="Demo logins")
    for username, role, password in DEMO_USERS:
        sees = {
            "admin": "everything, users, settings",
            "board": "everything (read)",
            "manager": f"team {first_rep['team']}",
            "rep": f"clients of {first_rep['name']} ({first_rep['rep_id']})",
        }[role]
        logins.add_row(username, password, role, sees)
    console.print(logins)
    if analyze_:
        _run_analysis(ws, ref, export=None)
    console.print(f"Demo workspace: [bold]{ws.path}[/]")


def _last_month_end(today: dt.date) -> dt.date:
    return today.replace(day=1) - dt.timedelta(days=1)


@app.command()
def analyze(
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    export: Annotated[
        Path | None, typer.Option("--export", help="Write the per-client table (.csv, .xlsx or .parquet).")
    ] = None,
) -> None:
    """Run the analysis (features, scores, segments, signals, forecasts) and store it as a snapshot."""
    ws = open_workspace(workspace)
    ref = parse_date(as_of, "--as-of") or ws.as_of()
    _run_analysis(ws, ref, export)


def _run_analysis(ws: Workspace, as_of: dt.date, export: Path | None) -> None:
    from salesfolio.reports.console import print_analysis_summary
    from salesfolio.services.analysis import AnalysisError, export_clients, run_analysis

    try:
        with console.status(f"Analysing the portfolio as of {as_of}..."):
            result = run_analysis(ws, as_of=as_of)
    except AnalysisError as exc:
        raise fail(str(exc)) from None
    print_analysis_summary(console, result, currency=ws.config.workspace.currency)
    if export is not None:
        try:
            export_clients(result.clients, export)
        except ValueError as exc:
            raise fail(str(exc)) from None
        console.print(f"Per-client table written to {export}")


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="admin, board, manager or rep.")],
    workspace: WorkspaceOpt = Path("."),
    password: Annotated[
        str | None, typer.Option(help="Password (prompted, hidden, when omitted).", envvar="SALESFOLIO_PASSWORD")
    ] = None,
    full_name: Annotated[str, typer.Option(help="Display name.")] = "",
    rep_id: Annotated[str | None, typer.Option(help="For a rep: the rep ID whose clients they see.")] = None,
    team: Annotated[str | None, typer.Option(help="For a manager: the team they lead.")] = None,
    language: Annotated[str, typer.Option(help="en or pl.")] = "en",
) -> None:
    """Add a user who can log in to the web app."""
    from salesfolio.services import audit
    from salesfolio.services.users import UserError, create_user

    ws = open_workspace(workspace)
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with ws.sessions.begin() as session:
            create_user(
                session,
                username=username,
                password=password,
                role=role,
                full_name=full_name,
                rep_id=rep_id,
                team=team,
                language=language,
            )
            audit.record(session, "user.add", object_type="user", object_id=username, role=role)
    except UserError as exc:
        raise fail(str(exc)) from None
    console.print(f"User [bold]{username}[/] ({role}) added.")


@user_app.command("list")
def user_list(workspace: WorkspaceOpt = Path(".")) -> None:
    """List users and their roles."""
    from sqlalchemy import select

    from salesfolio.store.models import User

    ws = open_workspace(workspace)
    out = Table("username", "role", "rep_id", "team", "language", "active")
    with ws.sessions() as session:
        for u in session.scalars(select(User).order_by(User.username)):
            out.add_row(u.username, u.role, u.rep_id or "", u.team or "", u.language, "yes" if u.active else "no")
    console.print(out)


@app.command("upgrade-db")
def upgrade_db(workspace: WorkspaceOpt = Path(".")) -> None:
    """Bring the app store to the newest schema (Alembic migrations)."""
    from salesfolio.store.db import current_revision, migrate

    ws = open_workspace(workspace)
    migrate(ws.store_engine)
    console.print(f"App store at revision {current_revision(ws.store_engine)}")


@app.command()
def serve(
    workspace: WorkspaceOpt = Path("."),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """Start the web app."""
    import uvicorn

    from salesfolio.web.app import create_app
    from salesfolio.web.assets import VendorAssetsMissing

    ws = open_workspace(workspace)
    try:
        web_app = create_app(ws)
    except (VendorAssetsMissing, ConfigError) as exc:
        raise fail(str(exc)) from None
    console.print(f"salesfolio on http://{host}:{port}/ (workspace {ws.path}); Ctrl+C stops it.")
    uvicorn.run(web_app, host=host, port=port, log_level="info")


def main() -> None:
    """Entry point of the ``salesfolio`` script."""
    app()
