import pyarrow as pa
import pytest

from salesfolio import contract
from salesfolio.contract import LOAD_ORDER, TABLES


def test_every_table_has_its_key_columns_and_valid_references():
    for t in TABLES.values():
        for k in t.key:
            assert k in t, f"{t.name}: key column {k} not declared"
        for ref in t.references:
            assert ref.column in t
            assert ref.target in TABLES[ref.table]


def test_load_order_covers_every_table_and_respects_references():
    assert sorted(LOAD_ORDER) == sorted(TABLES)
    for t in TABLES.values():
        for ref in t.references:
            if ref.table != t.name:
                assert LOAD_ORDER.index(ref.table) < LOAD_ORDER.index(t.name)


def test_design_columns_are_present():
    # The design's data contract (../shared/design.md) names these columns; the contract must carry them.
    expected = {
        "clients": "client_id name industry size_class region country owner_id contract_type status since parent_id",
        "reps": "rep_id name team capacity_hours",
        "products": "product_id name category",
        "invoice_lines": "invoice_id client_id date product_id quantity revenue cost rep_id",
        "cost_to_serve": "client_id period amount kind",
        "opportunities": "opportunity_id client_id owner_id stage value probability created expected_close closed won "
        "lost_reason",
        "assessments": "client_id period potential relationship strategic_fit entered_by entered_at",
        "activities": "client_id rep_id date kind hours",
    }
    for name, cols in expected.items():
        assert set(cols.split()) <= set(TABLES[name].names), name


def test_arrow_schema_types():
    schema = contract.INVOICE_LINES.arrow_schema
    assert schema.field("date").type == pa.date32()
    assert schema.field("revenue").type == pa.float64()
    assert schema.field("client_id").type == pa.string()
    assert contract.ASSESSMENTS.column("relationship").maximum == 5


def test_unknown_table_and_column_messages():
    with pytest.raises(KeyError, match="unknown table 'invoices'; the data contract has: clients, reps"):
        contract.table("invoices")
    with pytest.raises(KeyError, match="table 'clients' has no column 'revenue'"):
        contract.CLIENTS.column("revenue")
