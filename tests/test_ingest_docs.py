"""docs/data-contract.md is generated where it lists code facts, and must not go stale."""

from __future__ import annotations

from pathlib import Path

from salesfolio.contract import TABLES
from salesfolio.ingest import docs
from salesfolio.ingest.errors import MESSAGES, WARNINGS

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "data-contract.md"


def test_data_contract_doc_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert docs.refresh(text) == text, "docs/data-contract.md is stale: run python -m salesfolio.ingest.docs"


def test_doc_lists_every_table_column_and_message() -> None:
    text = DOC.read_text(encoding="utf-8")
    for spec in TABLES.values():
        assert f"### {spec.name}\n" in text
        for column in spec.columns:
            assert f"| {column.name} | {column.type} |" in text
    for code in [*MESSAGES, *WARNINGS]:
        assert f"| {code} |" in text


def test_every_message_is_used_by_the_code() -> None:
    folder = ROOT / "src" / "salesfolio" / "ingest"
    modules = [p for p in folder.glob("*.py") if p.name not in ("errors.py", "docs.py")]
    errors = (folder / "errors.py").read_text(encoding="utf-8")
    # the code of errors.py after the catalogues uses some codes itself
    source = "\n".join([*(p.read_text(encoding="utf-8") for p in modules), errors[errors.index("def shown") :]])
    unused = [code for code in [*MESSAGES, *WARNINGS] if f'"{code}"' not in source]
    assert unused == []
