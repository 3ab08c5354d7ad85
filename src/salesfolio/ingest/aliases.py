"""Built-in column aliases: the headers of common exports, per canonical table and column.

Headers are compared after :func:`normalise_header` (case, spaces, underscores, punctuation and accents
ignored, so ``Customer ID``, ``customer_id`` and ``CUSTOMERID`` are one name, and ``Ilość`` matches ``ilosc``).
Within a column the aliases are in priority order: an ID column beats a name column that can stand in for it
(``NIP`` beats ``Kontrahent`` for the client ID; a file with only ``Kontrahent`` uses the names as IDs).

Besides the contract's columns, a table has *source attributes* (:data:`ATTRIBUTES`): columns that are not stored
in the table itself but feed a derivation (``unit_price`` -> revenue, ``profit`` -> cost, ``close_date`` ->
closed or expected close) or describe a related record (``client_name`` on an invoice line creates the client).

Covered: UCI Online Retail, Tableau Superstore, the Maven CRM set, CDNOW, Salesforce, HubSpot, Odoo, SAP
(KUNNR, VBELN, FKDAT, MATNR, NETWR, FKIMG, WAVWR, POSNR) and Polish ERP/CRM headers (Subiekt, Optima, enova and
the like).

>>> normalise_header("  Ilość ") == normalise_header("ilosc")
True
>>> recognise("invoice_lines", ["InvoiceNo", "StockCode", "Quantity", "UnitPrice"])
{0: 'invoice_id', 1: 'product_id', 2: 'quantity', 3: 'unit_price'}
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import cache

from salesfolio.contract import TABLES, ColumnType

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def normalise_header(header: str) -> str:
    """A header reduced for comparison: accents and ``ł`` folded, lower case, only letters and digits kept."""
    folded = unicodedata.normalize("NFKD", str(header).replace("ł", "l").replace("Ł", "L"))
    ascii_only = "".join(c for c in folded if not unicodedata.combining(c))
    return _NON_ALNUM.sub("", ascii_only.lower())


# fmt: off
# -- shared groups -----------------------------------------------------------------------------------------------
CLIENT_ID = (
    "client_id", "client id", "customer id", "customerid", "customer number", "customer no", "account id",
    "company id", "kunnr", "kunag", "id klienta", "id kontrahenta", "kod kontrahenta", "kod klienta", "akronim",
    "numer klienta", "nip", "tax id", "vat id", "vat number",
)
CLIENT_NAMEISH = ("customer", "client", "account", "account name", "company", "company name",
                  "associated company", "associated company (primary)", "partner", "kontrahent", "klient",
                  "nabywca", "odbiorca", "firma")
CLIENT_NAME = ("client name", "customer name", "account name", "company name", "name1", "nazwa kontrahenta",
               "nazwa klienta", "nazwa nabywcy", "nazwa firmy", "kontrahent", "klient", "nabywca", "odbiorca")
INDUSTRY = ("industry", "sector", "segment", "branża", "sektor", "industry sector", "vertical", "branch")
REGION = ("region", "sales region", "territory", "województwo", "obszar", "rejon")
COUNTRY = ("country", "country/region", "billing country", "country code", "land1", "kraj", "office location",
           "państwo")
REP_ID = ("rep_id", "rep id", "sales rep id", "salesperson id", "employee id", "user id", "owner id",
          "sales agent", "salesperson", "sales person", "sales rep", "salesrep", "rep", "seller", "account manager",
          "handlowiec", "opiekun", "opiekun klienta", "sprzedawca", "pracownik", "user", "owner")
PRODUCT_ID = ("product_id", "product id", "productid", "product code", "stockcode", "stock code", "sku",
              "item code", "item id", "item no", "item number", "article no", "article number", "matnr",
              "material", "kod towaru", "kod produktu", "id produktu", "symbol", "indeks", "product", "item",
              "towar", "produkt", "artykuł")
PRODUCT_NAME = ("product name", "description", "item name", "item description", "maktx", "nazwa towaru",
                "nazwa produktu", "opis", "opis towaru", "towar", "produkt", "nazwa")
CATEGORY = ("category", "product category", "kategoria", "grupa towarowa", "grupa produktowa", "product group",
            "product line", "series", "family", "rodzina", "matkl")
SUBCATEGORY = ("sub-category", "subcategory", "sub category", "podkategoria", "podgrupa")
DATE = ("date", "data")

ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "clients": {
        "client_id": (*CLIENT_ID, "record id", "id"),
        "name": ("name", *CLIENT_NAME, "nazwa", *CLIENT_NAMEISH),
        "industry": INDUSTRY,
        "size_class": ("size class", "size", "company size", "size band", "wielkość", "klasa wielkości",
                       "wielkość firmy"),
        "region": REGION,
        "country": COUNTRY,
        "owner_id": ("owner_id", "account owner", "company owner", "contact owner", "hubspot owner", "owner",
                     "owner name", "handlowiec", "opiekun", "opiekun klienta", "salesperson", "sales rep",
                     "account manager"),
        "contract_type": ("contract type", "contract", "typ umowy", "rodzaj umowy", "umowa", "account type"),
        "status": ("status", "account status", "customer status", "lifecycle stage", "status klienta"),
        "since": ("since", "client since", "customer since", "klient od", "data rozpoczęcia współpracy",
                  "created date", "create date", "created"),
        "parent_id": ("parent_id", "parent id", "parent account", "parent account id", "parent company",
                      "subsidiary of", "podmiot dominujący", "spółka matka"),
        "employees": ("employees", "number of employees", "employee count", "liczba pracowników", "zatrudnienie"),
    },
    "reps": {
        "rep_id": REP_ID,
        "name": ("name", "full name", "rep name", "user name", "imię i nazwisko", "nazwisko"),
        "team": ("team", "sales team", "regional office", "office", "zespół", "dział", "oddział", "region"),
        "manager_id": ("manager_id", "manager", "manager id", "manager name", "reports to", "kierownik",
                       "przełożony"),
        "capacity_hours": ("capacity_hours", "capacity hours", "capacity", "selling hours", "hours per quarter",
                           "godziny", "godziny na kwartał"),
    },
    "products": {
        "product_id": PRODUCT_ID,
        "name": ("name", *PRODUCT_NAME),
        "category": CATEGORY,
        "subcategory": SUBCATEGORY,
    },
    "invoice_lines": {
        "invoice_id": ("invoice_id", "invoice id", "invoiceno", "invoice no", "invoice number", "invoice nr",
                       "invoice", "order id", "order no", "order number", "document no", "document number",
                       "vbeln", "belnr", "numer faktury", "nr faktury", "faktura", "numer dokumentu",
                       "nr dokumentu", "dokument", "numer zamówienia", "transaction id", "receipt no", "number"),
        "line_no": ("line_no", "line no", "line number", "line nr", "line", "position", "pos", "posnr", "lp",
                    "pozycja", "nr pozycji", "row id"),
        "client_id": (*CLIENT_ID, *CLIENT_NAMEISH),
        "date": ("invoice date", "invoicedate", "order date", "document date", "posting date", "billing date",
                 "fkdat", "budat", "data faktury", "data wystawienia", "data sprzedaży", "data dokumentu",
                 "transaction date", "sale date", *DATE),
        "product_id": PRODUCT_ID,
        "quantity": ("quantity", "qty", "quantity sold", "units", "number of units", "fkimg", "menge", "ilość",
                     "liczba", "sztuk", "number_of_cds"),
        "revenue": ("revenue", "net revenue", "sales", "net sales", "sales amount", "amount", "net amount",
                    "net value", "netwr", "subtotal", "untaxed amount", "line total", "extended price", "value",
                    "total", "turnover", "wartość netto", "wartość sprzedaży netto", "kwota netto", "netto",
                    "wartość", "kwota", "przychód", "sprzedaż netto", "obrót", "dollar_value"),
        "cost": ("cost", "cogs", "cost of goods", "cost of sales", "total cost", "cost amount", "wavwr", "koszt",
                 "koszt własny", "koszt sprzedaży", "wartość zakupu", "purchase value"),
        "rep_id": REP_ID,
        "unit_price": ("unit price", "unitprice", "price", "price unit", "net price", "cena", "cena netto",
                       "cena jednostkowa", "cena jedn netto"),
        "unit_cost": ("unit cost", "cost price", "standard cost", "cena zakupu", "koszt jednostkowy"),
        "profit": ("profit", "gross profit", "gross margin amount", "zysk", "zysk brutto", "marża kwotowa"),
        "client_name": CLIENT_NAME,
        "client_industry": INDUSTRY,
        "client_region": REGION,
        "client_country": COUNTRY,
        "product_name": PRODUCT_NAME,
        "product_category": CATEGORY,
        "product_subcategory": SUBCATEGORY,
    },
    "cost_to_serve": {
        "client_id": (*CLIENT_ID, *CLIENT_NAMEISH),
        "period": ("period", "month", "okres", "miesiąc", *DATE),
        "kind": ("kind", "cost type", "type", "rodzaj", "rodzaj kosztu", "typ kosztu", "category"),
        "amount": ("amount", "cost", "value", "kwota", "koszt", "wartość"),
    },
    "opportunities": {
        "opportunity_id": ("opportunity_id", "opportunity id", "deal id", "record id", "id", "id szansy",
                           "opportunity", "deal", "szansa"),
        "client_id": (*CLIENT_ID, *CLIENT_NAMEISH),
        "owner_id": ("owner_id", "opportunity owner", "deal owner", "owner", "owner name", *REP_ID),
        "stage": ("stage", "deal stage", "opportunity stage", "pipeline stage", "etap", "faza", "etap szansy"),
        "value": ("value", "amount", "deal value", "close value", "expected revenue", "planned revenue",
                  "opportunity amount", "kwota", "wartość", "wartość szansy"),
        "probability": ("probability", "probability %", "deal probability", "win probability",
                        "prawdopodobieństwo"),
        "created": ("created", "created date", "create date", "creation date", "engage date", "created on", "opened",
                    "data utworzenia"),
        "expected_close": ("expected close", "expected close date", "expected closing", "expected closing date",
                           "planowana data zamknięcia"),
        "closed": ("closed date", "date closed", "closed on", "data zamknięcia faktyczna"),
        "won": ("won", "is won", "wygrana"),
        "lost_reason": ("lost reason", "loss reason", "closed lost reason", "reason lost", "przyczyna utraty",
                        "powód przegranej"),
        "product_id": ("product_id", "product id", "product", "produkt"),
        "close_date": ("close date", "closing date", "data zamknięcia"),
        "is_closed": ("closed", "is closed", "zamknięta"),
    },
    "assessments": {
        "client_id": (*CLIENT_ID, *CLIENT_NAMEISH),
        "period": ("period", "quarter", "okres", "kwartał", *DATE),
        "potential": ("potential", "yearly potential", "purchasing potential", "wallet", "potencjał"),
        "relationship": ("relationship", "relationship score", "relacja", "relacje", "jakość relacji"),
        "strategic_fit": ("strategic fit", "strategic_fit", "fit", "dopasowanie strategiczne", "dopasowanie"),
        "entered_by": ("entered by", "assessor", "author", "oceniający", "autor"),
        "entered_at": ("entered at", "assessed on", "assessment date", "data oceny"),
    },
    "activities": {
        "client_id": (*CLIENT_ID, *CLIENT_NAMEISH),
        "rep_id": REP_ID,
        "date": ("activity date", "date", "data", "data aktywności"),
        "kind": ("kind", "activity type", "type", "rodzaj", "typ", "typ aktywności"),
        "hours": ("hours", "duration hours", "time spent", "godziny", "czas"),
    },
}
# fmt: on
"""Aliases per table and target column (contract columns and source attributes), in priority order."""

# fmt: off
ATTRIBUTES: dict[str, dict[str, ColumnType]] = {
    "clients": {"employees": "float"},
    "reps": {},
    "products": {"subcategory": "string"},
    "invoice_lines": {
        "unit_price": "float", "unit_cost": "float", "profit": "float", "client_name": "string",
        "client_industry": "string", "client_region": "string", "client_country": "string",
        "product_name": "string", "product_category": "string", "product_subcategory": "string",
    },
    "cost_to_serve": {},
    "opportunities": {"close_date": "date", "is_closed": "bool"},
    "assessments": {},
    "activities": {},
}
# fmt: on
"""Source attributes per table (not stored in the table; see the module docstring) and their types."""

TABLE_HINTS: dict[str, tuple[str, ...]] = {
    "clients": ("account", "customer", "client", "compan", "klient", "kontrahent", "odbiorc"),
    "reps": ("sales_team", "salesteam", "team", "user", "rep", "agent", "handlow", "employee", "staff"),
    "products": ("product", "item", "towar", "produkt", "articl", "material", "sku"),
    "invoice_lines": (
        "invoice",
        "sales",
        "order",
        "line",
        "retail",
        "faktur",
        "sprzeda",
        "transaction",
        "purchase",
        "cdnow",
        "superstore",
    ),
    "cost_to_serve": ("cost_to_serve", "costtoserve", "cts", "koszt"),
    "opportunities": ("pipeline", "deal", "opportunit", "szans", "lead"),
    "assessments": ("assessment", "ocen", "potential"),
    "activities": ("activit", "visit", "call", "aktywn", "wizyt"),
}
"""File-name fragments that hint at a table (a hint breaks a tie between tables, never overrides columns)."""


def target_type(table: str, target: str) -> ColumnType:
    """The type of ``target`` in ``table``: a contract column's type or a source attribute's."""
    spec = TABLES[table]
    if target in spec:
        return spec.column(target).type
    return ATTRIBUTES[table][target]


def targets(table: str) -> list[str]:
    """Every column a file for ``table`` can map to: contract columns, then source attributes."""
    return [*TABLES[table].names, *ATTRIBUTES[table]]


@cache
def _normalised(table: str) -> dict[str, tuple[str, ...]]:
    """Each target's aliases, normalised; its own name first unless another target lists that name explicitly.

    ``Closed`` is Salesforce's yes/no ``is_closed``, not the ``closed`` date.
    """
    listed = {target: tuple(normalise_header(a) for a in aliases) for target, aliases in ALIASES[table].items()}
    result: dict[str, tuple[str, ...]] = {}
    for target in targets(table):
        own = normalise_header(target)
        elsewhere = any(own in aliases for other, aliases in listed.items() if other != target)
        result[target] = (*(() if elsewhere else (own,)), *listed.get(target, ()))
    return result


@cache
def _every_alias() -> frozenset[str]:
    names = {normalise_header(t) for table in ALIASES for t in targets(table)}
    for table in ALIASES:
        for aliases in _normalised(table).values():
            names.update(aliases)
    return frozenset(names)


def is_known_header(header: str) -> bool:
    """True when ``header`` is a column name of any table (used to find the header row)."""
    key = normalise_header(header)
    return bool(key) and key in _every_alias()


def recognise(
    table: str, headers: Sequence[str], taken: Sequence[int] = (), done: Sequence[str] = ()
) -> dict[int, str]:
    """Map source column positions to targets of ``table`` by the built-in aliases.

    Targets are served in contract order, each taking its best-ranked unclaimed source column; a target's own
    name counts as its first alias unless another target lists it. ``taken`` lists positions and ``done``
    targets already mapped (by a mapping file).
    """
    keys = [normalise_header(h) for h in headers]
    claimed: set[int] = set(taken)
    result: dict[int, str] = {}
    aliases = _normalised(table)
    for target in targets(table):
        if target in done:
            continue
        ranked = aliases[target]
        best: tuple[int, int] | None = None
        for pos, key in enumerate(keys):
            if pos in claimed or not key or key not in ranked:
                continue
            rank = ranked.index(key)
            if best is None or rank < best[0]:
                best = (rank, pos)
        if best is not None:
            claimed.add(best[1])
            result[best[1]] = target
    return dict(sorted(result.items()))
