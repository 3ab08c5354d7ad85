"""Fixed vocabularies of the demo manufacturer: geography, industries, seasonality, product range, names.

Nothing here is random: the generator draws from these lists with its own seeded generator, so the same seed
gives the same company whatever the size.
"""

from __future__ import annotations

from typing import Final

# The vocabularies are laid out by hand for reading; the formatter would put one word per line.
# fmt: off

# -- geography ---------------------------------------------------------------------------------------------------
VOIVODESHIPS_NORTH: Final[dict[str, float]] = {
    "mazowieckie": 0.20,
    "wielkopolskie": 0.11,
    "pomorskie": 0.06,
    "kujawsko-pomorskie": 0.05,
    "zachodniopomorskie": 0.04,
    "warmińsko-mazurskie": 0.025,
    "podlaskie": 0.02,
    "lubuskie": 0.02,
}
"""Voivodeships served by team North, weighted by their share of industrial output (GUS, rounded)."""

VOIVODESHIPS_SOUTH: Final[dict[str, float]] = {
    "śląskie": 0.13,
    "dolnośląskie": 0.09,
    "małopolskie": 0.09,
    "łódzkie": 0.06,
    "lubelskie": 0.04,
    "podkarpackie": 0.04,
    "świętokrzyskie": 0.02,
    "opolskie": 0.02,
}
"""Voivodeships served by team South."""

EXPORT_COUNTRIES: Final[dict[str, tuple[str, float]]] = {
    "DE": ("Germany", 0.34),
    "CZ": ("Czechia", 0.15),
    "SK": ("Slovakia", 0.07),
    "NL": ("Netherlands", 0.08),
    "AT": ("Austria", 0.06),
    "FR": ("France", 0.06),
    "IT": ("Italy", 0.06),
    "HU": ("Hungary", 0.05),
    "LT": ("Lithuania", 0.06),
    "SE": ("Sweden", 0.07),
}
"""Export markets: ISO code -> (region label, share of export clients)."""

TEAMS: Final[tuple[str, str, str]] = ("Północ", "Południe", "Eksport")
"""Sales teams: Poland north, Poland south, export."""

# -- industries --------------------------------------------------------------------------------------------------
INDUSTRIES: Final[tuple[str, ...]] = (
    "automotive",
    "construction",
    "food",
    "furniture",
    "energy",
    "machinery",
    "chemicals",
    "retail distribution",
    "packaging",
    "agriculture",
)
INDUSTRY_WEIGHTS_PL: Final[tuple[float, ...]] = (0.14, 0.11, 0.13, 0.10, 0.07, 0.14, 0.07, 0.10, 0.07, 0.07)
INDUSTRY_WEIGHTS_EXPORT: Final[tuple[float, ...]] = (0.22, 0.05, 0.10, 0.12, 0.06, 0.22, 0.08, 0.05, 0.06, 0.04)

_BASE_SEASON = (1.10, 1.05, 1.15, 1.00, 1.00, 0.95, 0.75, 0.72, 1.02, 1.08, 1.05, 1.13)
SEASONALITY: Final[dict[str, tuple[float, ...]]] = {
    "automotive": (1.15, 1.10, 1.15, 1.05, 1.00, 0.95, 0.62, 0.60, 1.05, 1.10, 1.08, 1.15),
    "construction": (0.65, 0.70, 0.95, 1.15, 1.20, 1.20, 1.10, 1.05, 1.15, 1.10, 0.95, 0.80),
    "food": (1.00, 0.95, 1.00, 0.95, 1.00, 1.00, 0.88, 0.90, 1.05, 1.10, 1.15, 1.25),
    "furniture": (1.12, 1.08, 1.10, 1.00, 0.95, 0.90, 0.75, 0.78, 1.05, 1.10, 1.08, 1.09),
    "energy": (1.15, 1.05, 1.00, 0.95, 0.90, 0.90, 0.85, 0.85, 1.00, 1.10, 1.10, 1.15),
    "machinery": _BASE_SEASON,
    "chemicals": (1.05, 1.00, 1.10, 1.05, 1.00, 0.95, 0.85, 0.85, 1.00, 1.05, 1.00, 1.10),
    "retail distribution": (1.10, 1.00, 1.05, 1.00, 0.95, 0.90, 0.80, 0.85, 1.00, 1.05, 1.10, 1.20),
    "packaging": (1.05, 1.00, 1.05, 1.00, 1.00, 0.95, 0.85, 0.85, 1.00, 1.05, 1.10, 1.10),
    "agriculture": (1.10, 1.20, 1.40, 1.30, 1.10, 0.90, 0.80, 0.80, 0.90, 0.90, 0.80, 0.80),
}
"""Monthly purchase multipliers (January..December) by industry; normalised to mean 1 by the generator."""

# -- product range -----------------------------------------------------------------------------------------------
# (code, category, base gross margin, list price low, list price high, product types)
CATEGORIES: Final[tuple[tuple[str, str, float, float, float, tuple[str, ...]], ...]] = (
    ("BRG", "Bearings", 0.30, 15.0, 400.0,
     ("Deep groove ball bearing", "Tapered roller bearing", "Spherical roller bearing", "Pillow block unit")),
    ("GMO", "Gear motors", 0.24, 1200.0, 9000.0,
     ("Helical gear motor", "Worm gear motor", "Bevel gear motor", "Planetary gearbox")),
    ("HYD", "Hydraulic cylinders", 0.27, 700.0, 6000.0,
     ("Tie-rod cylinder", "Welded cylinder", "Telescopic cylinder", "Hydraulic power pack")),
    ("PNE", "Pneumatics", 0.33, 40.0, 900.0,
     ("Compact cylinder", "Solenoid valve", "FRL unit", "Push-in fitting set")),
    ("FST", "Fasteners", 0.18, 5.0, 80.0,
     ("Hex bolt pack", "Anchor bolt pack", "Self-locking nut pack", "Threaded rod")),
    ("SEA", "Seals and gaskets", 0.38, 3.0, 150.0,
     ("O-ring kit", "Rotary shaft seal", "Hydraulic seal set", "Flange gasket")),
    ("CPL", "Couplings", 0.29, 80.0, 1500.0,
     ("Jaw coupling", "Disc coupling", "Gear coupling", "Fluid coupling")),
    ("LIN", "Linear motion", 0.26, 200.0, 3500.0,
     ("Profile rail guide", "Ball screw", "Linear actuator", "Linear bushing set")),
    ("CNV", "Conveyor components", 0.21, 150.0, 2500.0,
     ("Conveyor roller", "Modular belt", "Drum motor", "Chain sprocket set")),
    ("SPR", "Spare parts and service kits", 0.45, 50.0, 1200.0,
     ("Maintenance kit", "Repair kit", "Wear parts set", "Inspection service")),
)
"""Ten product categories with different base margins (distribution of industrial components)."""

PRODUCTS_PER_CATEGORY: Final[tuple[int, ...]] = (12, 12, 12, 12, 12, 12, 12, 12, 11, 11)
UNCATEGORISED_PRODUCTS: Final[tuple[tuple[str, str, float, float], ...]] = (
    ("MSC-001", "Custom welded frame (made to order)", 900.0, 0.22),
    ("MSC-002", "Trade fair promo tool set", 120.0, 0.35),
)
"""Products the ERP has not categorised yet: (product_id, name, list price, margin)."""

SIZE_CODES: Final[tuple[str, ...]] = ("S", "M", "L", "XL", "20", "25", "30", "40", "50", "63", "80", "100")

# Industry x category purchase affinity; the three core categories of each industry weigh 5.
# Category order: BRG GMO HYD PNE FST SEA CPL LIN CNV SPR
AFFINITY: Final[dict[str, tuple[float, ...]]] = {
    "automotive": (5, 2, 1, 5, 3, 2, 2, 5, 1, 2),
    "construction": (2, 1, 5, 1, 5, 5, 1, 0.5, 1, 2),
    "food": (3, 2, 0.5, 5, 1, 5, 1, 1, 5, 2),
    "furniture": (2, 1, 0.5, 5, 5, 1, 1, 5, 2, 1),
    "energy": (5, 3, 2, 1, 2, 3, 5, 0.5, 1, 5),
    "machinery": (5, 5, 3, 3, 2, 2, 3, 5, 1, 2),
    "chemicals": (2, 5, 1, 2, 1, 5, 5, 0.5, 1, 3),
    "retail distribution": (5, 1, 1, 2, 5, 5, 1, 1, 1, 1),
    "packaging": (2, 5, 0.5, 5, 1, 2, 1, 2, 5, 1),
    "agriculture": (5, 2, 5, 0.5, 2, 2, 1, 0.3, 1, 5),
}

# -- people and company names --------------------------------------------------------------------------------------
FIRST_NAMES_MALE: Final[tuple[str, ...]] = (
    "Piotr", "Krzysztof", "Andrzej", "Tomasz", "Paweł", "Marcin", "Michał", "Jakub", "Łukasz", "Adam", "Grzegorz",
    "Marek", "Wojciech", "Rafał", "Dariusz", "Mateusz",
)
FIRST_NAMES_FEMALE: Final[tuple[str, ...]] = (
    "Anna", "Katarzyna", "Małgorzata", "Agnieszka", "Magdalena", "Joanna", "Monika", "Ewa", "Karolina",
    "Aleksandra", "Barbara", "Natalia", "Beata", "Marta", "Dorota", "Justyna",
)
SURNAMES_PL: Final[tuple[str, ...]] = (
    "Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski", "Zieliński",
    "Szymański", "Woźniak", "Dąbrowski", "Kozłowski", "Jankowski", "Mazur", "Kwiatkowski", "Krawczyk",
    "Piotrowski", "Grabowski", "Nowakowski", "Pawłowski", "Michalski", "Król", "Wieczorek", "Jabłoński", "Wróbel",
    "Nowicki", "Majewski", "Olszewski", "Stępień", "Malinowski", "Jaworski", "Adamczyk", "Dudek", "Pawlak",
    "Górski", "Witkowski", "Walczak", "Sikora", "Baran", "Rutkowski", "Michalak", "Szewczyk", "Ostrowski",
    "Tomaszewski", "Pietrzak", "Zalewski", "Wróblewski", "Marciniak", "Jasiński", "Zawadzki", "Sadowski", "Bąk",
    "Chmielewski", "Włodarczyk", "Borkowski", "Czarnecki", "Sawicki", "Sokołowski", "Urbański", "Kubiak",
)

PL_PREFIXES: Final[dict[str, tuple[str, ...]]] = {
    "automotive": ("Zakład Mechaniczny", "Zakład Produkcji Części", "Tłocznia", "Przedsiębiorstwo Motoryzacyjne"),
    "construction": ("Przedsiębiorstwo Budowlane", "Zakład Prefabrykacji", "Betoniarnia", "Wytwórnia Mas"),
    "food": ("Zakłady Mięsne", "Mleczarnia", "Przetwórnia Owoców", "Piekarnia Przemysłowa", "Browar"),
    "furniture": ("Fabryka Mebli", "Stolarnia", "Zakład Meblarski", "Tapicernia"),
    "energy": ("Elektrociepłownia", "Ciepłownia Miejska", "Zakład Energetyczny", "Energo-Serwis"),
    "machinery": ("Fabryka Maszyn", "Zakład Mechaniczny", "Kuźnia", "Odlewnia", "Zakład Obróbki Metali"),
    "chemicals": ("Zakłady Chemiczne", "Wytwórnia Farb", "Zakład Tworzyw Sztucznych", "Zakłady Azotowe"),
    "retail distribution": ("Hurtownia Techniczna", "Centrum Łożysk", "Hurtownia Przemysłowa", "Składnica"),
    "packaging": ("Zakład Opakowań", "Tekturownia", "Drukarnia Opakowań", "Zakład Folii"),
    "agriculture": ("Spółdzielnia Rolnicza", "Gospodarstwo Rolne", "Agroserwis", "Zakład Mechanizacji Rolnictwa"),
}
PL_BRAND_HEADS: Final[tuple[str, ...]] = (
    "Hydro", "Metal", "Stal", "Agro", "Termo", "Elektro", "Auto", "Eko", "Inter", "Mech", "Chem", "Mebl",
    "Drew", "Pak", "Energo", "Tech", "Poli", "Konstal", "Maszyn", "Bud",
)
PL_BRAND_TAILS: Final[tuple[str, ...]] = (
    "Tech", "Pol", "Bud", "Serwis", "Mech", "Trans", "Met", "Plast", "System", "Projekt", "Mat", "Kraft",
)
PL_CITY_ADJECTIVES: Final[tuple[str, ...]] = (
    "Poznańskie", "Śląskie", "Mazowieckie", "Krakowskie", "Łódzkie", "Gdańskie", "Lubelskie", "Wrocławskie",
    "Pomorskie", "Kujawskie", "Podkarpackie", "Opolskie",
)
PL_WORKS: Final[dict[str, str]] = {
    "automotive": "Zakłady Motoryzacyjne", "construction": "Zakłady Budowlane", "food": "Zakłady Spożywcze",
    "furniture": "Fabryki Mebli", "energy": "Zakłady Energetyczne", "machinery": "Zakłady Mechaniczne",
    "chemicals": "Zakłady Chemiczne", "retail distribution": "Hurtownie Techniczne",
    "packaging": "Zakłady Opakowań", "agriculture": "Zakłady Rolno-Przemysłowe",
}
PL_TOWNS: Final[tuple[str, ...]] = (
    "Kalisz", "Radom", "Płock", "Tarnów", "Elbląg", "Gniezno", "Mielec", "Legnica", "Piła", "Konin", "Siedlce",
    "Zamość", "Nysa", "Jasło", "Ełk", "Łomża", "Sanok", "Kutno", "Świdnica", "Głogów",
)

FOREIGN: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]] = {
    # country: (surnames, branch words, templates with {s} surname and {b} branch)
    "DE": (
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann", "Schulz",
         "Koch", "Bauer", "Richter", "Klein", "Wolf"),
        ("Maschinenbau", "Antriebstechnik", "Fördertechnik", "Metallbau", "Anlagenbau", "Landtechnik",
         "Möbelwerke", "Verpackungstechnik", "Industriebedarf"),
        ("{s} {b} GmbH", "{s} {b} GmbH & Co. KG", "{s} & Söhne {b} GmbH", "{s} {b} AG"),
    ),
    "AT": (
        ("Gruber", "Huber", "Pichler", "Moser", "Steiner", "Mayr", "Hofer", "Leitner"),
        ("Maschinenbau", "Metallwaren", "Holzindustrie", "Anlagentechnik"),
        ("{s} {b} GmbH", "{s} {b} Ges.m.b.H."),
    ),
    "CZ": (
        ("Novák", "Svoboda", "Dvořák", "Černý", "Procházka", "Kučera", "Veselý", "Horák"),
        ("Strojírny", "Kovovýroba", "Potraviny", "Nábytek", "Stavby"),
        ("{b} {s} s.r.o.", "{b} {s} a.s."),
    ),
    "SK": (
        ("Horváth", "Kováč", "Varga", "Tóth", "Baláž", "Molnár"),
        ("Strojárne", "Kovovýroba", "Nábytok", "Agro"),
        ("{b} {s} s.r.o.", "{s} {b} a.s."),
    ),
    "NL": (
        ("de Vries", "Jansen", "van Dijk", "Bakker", "Visser", "Smit", "Meijer"),
        ("Techniek", "Machinebouw", "Verpakking", "Aandrijvingen"),
        ("{s} {b} B.V.",),
    ),
    "FR": (
        ("Martin", "Bernard", "Dubois", "Moreau", "Laurent", "Lefebvre"),
        ("Industrie", "Mécanique", "Emballages", "Équipements"),
        ("{b} {s} SAS", "{s} {b} SARL"),
    ),
    "IT": (
        ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo"),
        ("Meccanica", "Impianti", "Imballaggi", "Arredamenti"),
        ("{s} {b} S.r.l.", "{b} {s} S.p.A."),
    ),
    "HU": (
        ("Nagy", "Kovács", "Tóth", "Szabó", "Horváth", "Kiss"),
        ("Gépgyártó", "Fémipari", "Bútorgyár", "Csomagolástechnika"),
        ("{s} {b} Kft.", "{s} {b} Zrt."),
    ),
    "LT": (
        ("Baltijos", "Vilniaus", "Kauno", "Klaipėdos", "Nemuno"),
        ("mechanika", "technika", "baldai", "pakuotė", "statyba"),
        ("UAB {s} {b}", "AB {s} {b}"),
    ),
    "SE": (
        ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson"),
        ("Mekaniska", "Verkstad", "Industri", "Förpackning"),
        ("{s} {b} AB",),
    ),
}
"""Company-name vocabularies of the export markets."""

LOST_REASONS: Final[tuple[str, ...]] = (
    "price", "competitor", "no budget", "timing", "technical requirements", "no decision",
)
LOST_REASON_WEIGHTS: Final[tuple[float, ...]] = (0.32, 0.24, 0.14, 0.12, 0.08, 0.10)

OPEN_STAGES: Final[tuple[tuple[str, float], ...]] = (
    ("Prospecting", 0.1),
    ("Qualification", 0.2),
    ("Proposal", 0.4),
    ("Negotiation", 0.7),
)
"""Open pipeline stages with their default win probabilities (closed stages: Won 1.0, Lost 0.0)."""

ACTIVITY_KINDS: Final[tuple[tuple[str, float, float, float], ...]] = (
    # kind, share of activities, fewest hours, most hours (incl. travel for visits)
    ("visit", 0.25, 2.0, 6.0),
    ("call", 0.42, 0.25, 1.0),
    ("offer", 0.22, 1.0, 4.0),
    ("meeting", 0.11, 1.0, 3.0),
)
# fmt: on
