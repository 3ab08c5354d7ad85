"""Names for the demo company: Polish and foreign client companies, Polish sales reps, products.

Each function takes the generator's ``numpy.random.Generator`` and returns plain Python strings; names are
unique within one call (a duplicate gets a town inserted, then a number), as in a real client list.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from salesfolio.demo import catalogue as cat

_LEGAL_PL = ("Sp. z o.o.", "S.A.", "Sp.k.", "Sp.j.")


def _pick(options: Sequence[str], u: float) -> str:
    """The option at uniform draw ``u`` in [0, 1)."""
    return options[min(int(u * len(options)), len(options) - 1)]


def _polish_company(industry: str, size_rank: float, u: list[float]) -> tuple[str, str]:
    """One Polish company name as (stem, legal form); larger companies are more often joint-stock (S.A.)."""
    surname = _pick(cat.SURNAMES_PL, u[0])
    sa_share = 0.10 + 0.3 * size_rank
    legal_draw = u[1] * (1.0 + sa_share)  # legal forms weigh 0.75, sa_share, 0.08, 0.07
    legal = _LEGAL_PL[
        0 if legal_draw < 0.75 else 1 if legal_draw < 0.75 + sa_share else 2 if legal_draw < 0.83 + sa_share else 3
    ]
    style = u[2]
    if size_rank < 0.35 and style < 0.18:
        return f"P.P.H.U. {surname} {_pick(cat.FIRST_NAMES_MALE + cat.FIRST_NAMES_FEMALE, u[3])}", ""
    if size_rank > 0.8 and style < 0.25:
        return f"{_pick(cat.PL_CITY_ADJECTIVES, u[3])} {cat.PL_WORKS[industry]}", "S.A."
    if style < 0.50:
        return f"{_pick(cat.PL_PREFIXES[industry], u[3])} {surname}", legal
    if style < 0.85:
        return f"{_pick(cat.PL_BRAND_HEADS, u[3])}-{_pick(cat.PL_BRAND_TAILS, u[4])}", legal
    if style < 0.93:
        return f"{surname} i Synowie", "Sp.j."
    return f"{surname} & {_pick(cat.SURNAMES_PL, u[4])}", "Sp.k."


def _foreign_company(country: str, u: list[float]) -> tuple[str, str]:
    surnames, branches, templates = cat.FOREIGN[country]
    return _pick(templates, u[0]).format(s=_pick(surnames, u[1]), b=_pick(branches, u[2])), ""


def company_names(
    rng: np.random.Generator,
    industries: Sequence[str],
    countries: Sequence[str],
    size_ranks: Sequence[float],
) -> tuple[list[str], list[str]]:
    """Unique company names and their stems (the name without legal form, used to name subsidiaries).

    Polish clients get Polish names ("Zakład Mechaniczny Nowak Sp. z o.o.", "Hydro-Tech S.A.",
    "P.P.H.U. Wróbel Anna"), export clients names in their country's style ("Schneider Antriebstechnik GmbH").
    The draws are made in one vectorised call, so naming 100,000 clients takes a fraction of a second.
    """
    draws: list[list[float]] = rng.random((len(countries), 6)).tolist()
    names: list[str] = []
    stems: list[str] = []
    seen: set[str] = set()
    next_number: dict[str, int] = {}
    for industry, country, rank, u in zip(industries, countries, size_ranks, draws, strict=True):
        stem, legal = _polish_company(industry, rank, u) if country == "PL" else _foreign_company(country, u)
        name = f"{stem} {legal}".strip()
        if name in seen:
            stem = f"{stem} {_pick(cat.PL_TOWNS, u[5])}" if country == "PL" else f"{stem} {country}"
            name = f"{stem} {legal}".strip()
        base = stem
        while name in seen:  # numbered namesakes; the counter per base keeps this linear at 100,000 clients
            k = next_number.get(base, 2)
            next_number[base] = k + 1
            stem = f"{base} {k}"
            name = f"{stem} {legal}".strip()
        seen.add(name)
        names.append(name)
        stems.append(stem)
    return names, stems


def subsidiary_name(parent_stem: str, country: str, u: float) -> str:
    """A subsidiary of a group, named after its parent ("Hydro-Tech Serwis Sp. z o.o.")."""
    if country == "PL":
        return f"{parent_stem} {_pick(('Serwis', 'Logistyka', 'Zakład 2', 'Produkcja', 'Handel'), u)} Sp. z o.o."
    return f"{parent_stem} {_pick(('Service', 'Logistics', 'Plant 2', 'Trading'), u)}"


def _feminine(surname: str) -> str:
    for masculine, feminine in (("ski", "ska"), ("cki", "cka"), ("dzki", "dzka")):
        if surname.endswith(masculine):
            return surname[: -len(masculine)] + feminine
    return surname


def person_names(rng: np.random.Generator, count: int) -> list[str]:
    """Unique Polish full names ("Anna Kowalska", "Piotr Nowak") for the sales team."""
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < count:
        u = rng.random(3)
        surname = _pick(cat.SURNAMES_PL, u[0])
        if u[1] < 0.5:
            name = f"{_pick(cat.FIRST_NAMES_FEMALE, u[2])} {_feminine(surname)}"
        else:
            name = f"{_pick(cat.FIRST_NAMES_MALE, u[2])} {surname}"
        if name in seen:
            if len(seen) >= len(cat.SURNAMES_PL) * 20:  # a huge team: allow namesakes, told apart by ID
                name = f"{name} ({len(out) + 1})"
            else:
                continue
        seen.add(name)
        out.append(name)
    return out
