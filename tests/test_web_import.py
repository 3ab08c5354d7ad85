"""The Import page through HTTP: admins only, streaming size limit, safe names, the report, load and discard."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from salesfolio.config import Settings
from salesfolio.services.imports import files_folder, safe_filename
from salesfolio.store.models import AuditEntry, ImportJob
from web_fixtures import World, build_world, cheap_passwords, csrf_of


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A fresh world per test (imports change the warehouse); uploads limited to 1 MB per file."""
    with cheap_passwords():
        built = build_world(tmp_path)
        built.workspace.settings = Settings(workspace=built.workspace.path, max_upload_mb=1)
        yield built
        built.workspace.close()


CLIENTS_CSV = b"client_id;name;industry\nN1;Nowa Firma;Food\nN2;Druga <i>Firma</i>;Retail\n"
BAD_LINES_CSV = (
    b"invoice_id,client_id,date,revenue\n"
    b"F10,C001,2025-05-02,100.50\n"
    b"F11,C001,2025-13-45,200.00\n"
    b"F12,C001,2025-05-04,<script>x</script>\n"
)


def upload(http, files, *, table: str = "", mapping=None, htmx: bool = False, header: bool = True):
    token = csrf_of(http)
    parts = [("files", f) for f in files]
    if mapping is not None:
        parts.append(("mapping", mapping))
    headers = {"X-CSRF-Token": token} if header else {}
    if htmx:
        headers["HX-Request"] = "true"
    data = {"table": table} if header else {"table": table, "csrf_token": token}
    return http.post("/imports", files=parts, data=data, headers=headers)


def job_of(location: str) -> str:
    match = re.fullmatch(r"/imports/([0-9a-f]{16})", location)
    assert match is not None, location
    return match.group(1)


def warehouse_count(world: World, table: str) -> int:
    with world.workspace.warehouse(read_only=True) as wh:
        return wh.row_count(table)


def audit_actions(world: World) -> list[tuple[str, str | None]]:
    with world.workspace.sessions() as db:
        rows = db.scalars(select(AuditEntry).where(AuditEntry.action.like("import.%")).order_by(AuditEntry.id))
        return [(a.action, a.object_id) for a in rows]


def uploads_left(world: World) -> list[str]:
    root = world.workspace.path / "uploads"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.parametrize("username", ["board", "maria", "anna"])
def test_non_admins_get_403(world: World, username: str) -> None:
    http = world.login(username)
    assert http.get("/imports").status_code == 403
    assert upload(http, [("clients.csv", CLIENTS_CSV, "text/csv")]).status_code == 403
    assert http.post("/imports/0123456789abcdef/confirm", data={"csrf_token": csrf_of(http)}).status_code == 403
    assert 'href="/imports"' not in http.get("/").text
    assert uploads_left(world) == []


def test_upload_checks_then_confirm_loads(world: World) -> None:
    http = world.login("admin")
    response = upload(http, [("../../clients.csv", CLIENTS_CSV, "text/csv")])
    assert response.status_code == 303
    job_id = job_of(response.headers["location"])
    assert warehouse_count(world, "clients") == 7  # checked, not loaded
    assert uploads_left(world) == [f"{job_id}/files/clients.csv"]
    page = http.get(response.headers["location"]).text
    report = page[page.index('id="import-report"') :]
    assert 'id="import-status">checked, waiting<' in report
    assert "clients.csv <span" in report and "<code>clients</code>" in report
    assert "<dt>Delimiter</dt><dd><code>;</code></dd>" in report
    assert "<dt>Encoding</dt><dd>utf-8</dd>" in report
    assert "<dt>Rows read</dt><dd>2</dd>" in report and "<dt>Rows to load</dt><dd>2</dd>" in report
    assert "<tr><td>industry</td><td><code>industry</code></td>" in report
    assert 'id="import-confirm"' in report and 'id="import-discard"' in report
    with world.workspace.sessions() as db:
        job = db.get(ImportJob, job_id)
        assert job is not None
        assert (job.status, job.created_by, job.files) == (
            "validated",
            "admin",
            [{"name": "clients.csv", "size": len(CLIENTS_CSV)}],
        )
    confirmed = http.post(f"/imports/{job_id}/confirm", data={"csrf_token": csrf_of(http)})
    assert confirmed.status_code == 303 and confirmed.headers["location"] == f"/imports/{job_id}"
    assert warehouse_count(world, "clients") == 9
    with world.workspace.warehouse(read_only=True) as wh:
        names = wh.table("clients").filter(lambda t: t.client_id.isin(["N1", "N2"])).execute()
    assert sorted(names["name"]) == ["Druga <i>Firma</i>", "Nowa Firma"]
    assert uploads_left(world) == []  # loaded: the stored files are gone
    page = http.get(f"/imports/{job_id}").text
    assert "Loaded into the warehouse. Run the analysis to see the new data on the pages." in page
    assert '<span class="badge bg-green-lt me-1">clients 2</span>' in page
    assert 'id="import-run-analysis"' in page and 'action="/analyses"' in page
    again = http.post(f"/imports/{job_id}/confirm", data={"csrf_token": csrf_of(http)})
    assert again.status_code == 409
    assert "This upload is loaded; only a checked upload without errors can be loaded or discarded." in again.text
    assert warehouse_count(world, "clients") == 9
    assert audit_actions(world) == [("import.upload", job_id), ("import.confirm", job_id)]
    history = http.get("/imports").text
    assert f'href="/imports/{job_id}"' in history and "clients.csv" in history


def test_bad_file_report_shows_row_and_column_and_loads_nothing(world: World) -> None:
    http = world.login("admin")
    lines_before = warehouse_count(world, "invoice_lines")
    response = upload(http, [("faktury.csv", BAD_LINES_CSV, "text/csv")], table="invoice_lines")
    job_id = job_of(response.headers["location"])
    page = http.get(response.headers["location"]).text
    assert 'id="import-status">errors<' in page
    assert "The files have errors; nothing was loaded." in page
    errors = page[page.index('id="import-errors"') :]
    rows = re.findall(r"<tr>\s*(<td>.*?)</tr>", errors, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows]
    by_row = {c[1]: c for c in cells}
    assert by_row["3"][0] == "faktury.csv"
    assert by_row["3"][2].startswith("date") and "<code>2025-13-45</code>" in by_row["3"][3]
    assert by_row["4"][2].startswith("revenue")
    assert "&lt;script&gt;x&lt;/script&gt;" in by_row["4"][3] and "<script>x" not in page
    assert warehouse_count(world, "invoice_lines") == lines_before
    assert uploads_left(world) == []  # a failed check keeps nothing
    assert 'id="import-confirm"' not in page
    refused = http.post(f"/imports/{job_id}/confirm", data={"csrf_token": csrf_of(http)})
    assert refused.status_code == 409
    assert warehouse_count(world, "invoice_lines") == lines_before


def test_discard_drops_the_files_and_loads_nothing(world: World) -> None:
    http = world.login("admin")
    job_id = job_of(upload(http, [("clients.csv", CLIENTS_CSV, "text/csv")]).headers["location"])
    response = http.post(f"/imports/{job_id}/discard", data={"csrf_token": csrf_of(http)})
    assert response.status_code == 303
    page = http.get(f"/imports/{job_id}").text
    assert "The upload was discarded; its files were deleted." in page
    assert 'id="import-status">discarded<' in page and 'id="import-confirm"' not in page
    assert uploads_left(world) == [] and warehouse_count(world, "clients") == 7
    assert http.post(f"/imports/{job_id}/confirm", data={"csrf_token": csrf_of(http)}).status_code == 409
    assert audit_actions(world) == [("import.upload", job_id), ("import.discard", job_id)]


def test_oversized_upload_is_refused_while_streaming(world: World) -> None:
    http = world.login("admin")
    big = b"client_id,name\n" + b"C9,x\n" * 250_000  # 1.25 MB, above the 1 MB limit
    small = ("clients.csv", CLIENTS_CSV, "text/csv")
    response = upload(http, [small, ("gross.csv", big, "text/csv")])
    assert response.status_code == 413
    assert "gross.csv is larger than the limit of 1 MB per file; nothing was stored." in response.text
    assert uploads_left(world) == []
    with world.workspace.sessions() as db:
        assert db.scalars(select(ImportJob)).all() == []
    # without JavaScript the form carries the token; the limit holds as well
    plain = upload(http, [("gross.csv", big, "text/csv")], header=False)
    assert plain.status_code == 413
    assert "gross.csv is larger than the limit of 1 MB per file; nothing was stored." in plain.text
    # HTMX swaps only 2xx answers: the message comes as a fragment, the status in a header
    htmx = upload(http, [("gross.csv", big, "text/csv")], htmx=True)
    assert htmx.status_code == 200 and htmx.headers["X-Upload-Status"] == "413"
    assert htmx.text.strip().startswith('<div class="alert alert-danger mb-3" role="alert" id="import-error">')
    assert uploads_left(world) == []


def test_oversized_upload_in_polish(world: World) -> None:
    http = world.login("admin")
    http.post("/language", data={"language": "pl", "csrf_token": csrf_of(http), "next": "/"})
    big = b"a,b\n" + b"1,2\n" * 300_000
    response = upload(http, [("duzy.csv", big, "text/csv")])
    assert response.status_code == 413
    assert "Plik duzy.csv przekracza limit 1 MB na plik; nic nie zostało zapisane." in response.text


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("../../x.csv", "x.csv"),
        ("/etc/passwd.csv", "passwd.csv"),
        ("..\\..\\windows\\clients.csv", "clients.csv"),
        (".hidden.csv", "hidden.csv"),
    ],
)
def test_traversal_names_stay_in_the_upload_folder(world: World, tmp_path: Path, sent: str, stored: str) -> None:
    http = world.login("admin")
    response = upload(http, [(sent, CLIENTS_CSV, "text/csv")], table="clients")
    job_id = job_of(response.headers["location"])
    assert uploads_left(world) == [f"{job_id}/files/{stored}"]
    assert (files_folder(world.workspace, job_id) / stored).read_bytes() == CLIENTS_CSV
    assert not (tmp_path / "x.csv").exists() and not (world.workspace.path / "x.csv").exists()
    with world.workspace.sessions() as db:
        job = db.get(ImportJob, job_id)
        assert job is not None and job.files == [{"name": stored, "size": len(CLIENTS_CSV)}]


def test_safe_filename_removes_nul_bytes_and_control_characters() -> None:
    assert safe_filename("evil\x00.csv") == "evil_.csv"
    assert safe_filename("a\r\nb.csv") == "a__b.csv"
    assert safe_filename("../..") == "upload"
    assert safe_filename("x" * 300 + ".csv.gz") == "x" * 113 + ".csv.gz"


def test_same_name_twice_and_a_mapping_file(world: World) -> None:
    http = world.login("admin")
    other = b"Nummer;Firma\nM1;Mapped One\n"
    mapping = (
        b'[files."clients (2).csv"]\ntable = "clients"\n\n'
        b'[files."clients (2).csv".columns]\nNummer = "client_id"\nFirma = "name"\n'
    )
    response = upload(
        http,
        [("clients.csv", CLIENTS_CSV, "text/csv"), ("clients.csv", other, "text/csv")],
        mapping=("mapa.toml", mapping, "application/toml"),
    )
    job_id = job_of(response.headers["location"])
    assert uploads_left(world) == [
        f"{job_id}/files/clients (2).csv",
        f"{job_id}/files/clients.csv",
        f"{job_id}/mapping/mapa.toml",
    ]
    page = http.get(response.headers["location"]).text
    assert "mapping mapa.toml" in page
    assert '<tr><td>Nummer</td><td><code>client_id</code></td><td class="text-secondary">mapping</td></tr>' in page
    http.post(f"/imports/{job_id}/confirm", data={"csrf_token": csrf_of(http)})
    assert warehouse_count(world, "clients") == 10


@pytest.mark.parametrize(
    ("files", "table", "status", "message"),
    [
        ([("run.exe", b"MZ", "application/octet-stream")], "", 400, "run.exe: files of this type are not accepted"),
        ([], "", 400, "Choose at least one data file."),
        ([("clients.csv", CLIENTS_CSV, "text/csv")], "users", 400, "Choose a table from the list."),
    ],
)
def test_refused_uploads_keep_nothing(world: World, files, table: str, status: int, message: str) -> None:
    http = world.login("admin")
    response = upload(http, files or [("", b"", "application/octet-stream")], table=table)
    assert response.status_code == status
    assert message in response.text
    assert uploads_left(world) == []


def test_bad_mapping_extension_and_unknown_jobs(world: World) -> None:
    http = world.login("admin")
    response = upload(http, [("clients.csv", CLIENTS_CSV, "text/csv")], mapping=("map.py", b"x", "text/plain"))
    assert response.status_code == 400
    assert "map.py: the mapping file must be a .toml file." in response.text
    assert http.get("/imports/0123456789abcdef").status_code == 404
    assert http.get("/imports/not-a-job").status_code == 400  # the id pattern refuses it before any lookup
    token = csrf_of(http)
    assert http.post("/imports/0123456789abcdef/discard", data={"csrf_token": token}).status_code == 404
    assert http.post("/imports/0123456789abcdef/confirm", data={}).status_code == 403  # no CSRF token


def test_upload_without_csrf_is_refused(world: World) -> None:
    http = world.login("admin")
    http.get("/imports")
    response = http.post("/imports", files=[("files", ("clients.csv", CLIENTS_CSV, "text/csv"))])
    assert response.status_code == 403
    assert uploads_left(world) == []
