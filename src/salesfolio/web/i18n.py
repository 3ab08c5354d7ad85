"""Languages of the web app: gettext catalogues and locale-aware numbers, money and dates (Babel).

Catalogues are the ``.po`` files in ``translations/<lang>/LC_MESSAGES/messages.po``. :func:`load_catalogues`
compiles them in memory at start-up (``babel.messages.pofile.read_po`` then ``mofile.write_mo``), so there is no
build step and no ``.mo`` file in the repository. Strings are marked with ``_()`` / ``gettext()`` in templates
(``jinja2.ext.i18n``) and with ``lang.gettext`` in Python; module-level labels are marked with :func:`N_` and
translated where they are shown. Update the catalogues with::

    pybabel extract -F babel.cfg -k N_ -o /tmp/messages.pot .
    pybabel update -i /tmp/messages.pot -d src/salesfolio/web/translations

:class:`Lang` formats with Babel's CLDR data: Polish uses U+00A0 (no-break space) as the thousands separator and
before the currency (``1 234 567 zł``); English gives ``PLN1,234,567``.

>>> lang = Lang("pl", load_catalogues()["pl"], currency="PLN")
>>> lang.money(1234567.4) == "1\u00a0234\u00a0567\u00a0zł"
True
>>> lang.gettext("Clients")
'Klienci'
>>> Lang("en", load_catalogues()["en"], currency="PLN").percent(0.1234)
'12.3%'
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import math
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import (
    NumberPattern,
    format_compact_currency,
    format_decimal,
    get_decimal_symbol,
    get_group_symbol,
    get_minus_sign_symbol,
)
from babel.support import Translations

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
LANGUAGES: dict[str, str] = {"en": "English", "pl": "Polski"}
"""Language code -> its name in that language (as shown in the switcher)."""
DEFAULT_LANGUAGE = "en"
MISSING = "–"
"""Shown for a value that is not known (an en dash)."""


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it (it is translated where it is shown)."""
    return message


def load_catalogues(directory: Path = TRANSLATIONS_DIR) -> dict[str, Translations]:
    """Compile every ``<lang>/LC_MESSAGES/messages.po`` under ``directory`` into in-memory translations.

    Fuzzy entries are ignored (as ``msgfmt`` does). Raises ``FileNotFoundError`` naming a missing catalogue.
    """
    catalogues: dict[str, Translations] = {}
    for code in LANGUAGES:
        path = directory / code / "LC_MESSAGES" / "messages.po"
        if not path.is_file():
            raise FileNotFoundError(f"translation catalogue missing: {path}")
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=code)
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        buffer.seek(0)
        catalogues[code] = Translations(buffer, domain="messages")
    return catalogues


def _number_pattern(pattern: NumberPattern, decimals: int) -> NumberPattern:
    fixed = copy.copy(pattern)
    fixed.frac_prec = (decimals, decimals)
    return fixed


def _finite(value: float | Decimal | int) -> bool:
    return not (isinstance(value, float) and not math.isfinite(value))


class Lang:
    """One language for one request: translations plus number, money and date formatting.

    Parameters
    ----------
    code
        ``en`` or ``pl`` (a key of :data:`LANGUAGES`).
    translations
        The compiled catalogue of that language (:func:`load_catalogues`).
    currency
        ISO 4217 code of the workspace's money (``[workspace] currency``).
    """

    def __init__(self, code: str, translations: Translations, currency: str) -> None:
        self.code = code
        self.translations = translations
        self.currency = currency
        self.locale = Locale.parse(code)
        self._symbols = str.maketrans({",": get_group_symbol(self.locale), ".": get_decimal_symbol(self.locale)})
        self._minus = get_minus_sign_symbol(self.locale)
        # The currency pattern around a number, from Babel: "\x00 zł" / "-\x00 zł", "PLN\x00" / "-PLN\x00".
        pattern = _number_pattern(self.locale.currency_formats["standard"], 0)
        self._money_templates = tuple(
            str(pattern.apply(Decimal(sign), self.locale, currency=currency, currency_digits=False)).replace(
                "7", "\x00", 1
            )
            for sign in ("7", "-7")
        )

    # -- text ----------------------------------------------------------------------------------------------------
    def gettext(self, message: str) -> str:
        """The translation of ``message`` (the message itself when the catalogue has none)."""
        return str(self.translations.gettext(message))

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The singular or (language-specific) plural form for ``n``."""
        return str(self.translations.ngettext(singular, plural, n))

    # -- numbers -------------------------------------------------------------------------------------------------
    def _grouped(self, value: float | Decimal | int, decimals: int) -> tuple[bool, str]:
        # Hot path (hover labels of thousands of points): round half-even on the decimal value, as Babel does,
        # then group with Python's formatter and swap in the locale's symbols. Equal to Babel's output (tested).
        exact = Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN)
        if exact.is_zero():
            exact = abs(exact)  # no "-0"
        text = format(abs(exact), ",f").translate(self._symbols)
        return exact < 0, text

    def number(self, value: float | int | None, decimals: int = 0) -> str:
        """A number with the locale's grouping and exactly ``decimals`` decimals; :data:`MISSING` for none."""
        if value is None or not _finite(value):
            return MISSING
        negative, text = self._grouped(value, decimals)
        return f"{self._minus}{text}" if negative else text

    def money(self, value: float | int | None, decimals: int = 0) -> str:
        """An amount in the workspace currency, whole units by default (``1 234 567 zł``, ``PLN1,234,567``)."""
        if value is None or not _finite(value):
            return MISSING
        negative, text = self._grouped(value, decimals)
        return self._money_templates[1 if negative else 0].replace("\x00", text)

    def money_compact(self, value: float | int | None) -> str:
        """A short amount for KPI cards (``1,2 mln zł``, ``PLN1.2M``)."""
        if value is None or not _finite(value):
            return MISSING
        return str(format_compact_currency(value, self.currency, locale=self.locale, fraction_digits=1))

    def percent(self, value: float | None, decimals: int = 1, *, signed: bool = False) -> str:
        """A share as a percentage (0.123 -> ``12.3%`` / ``12,3%``); ``signed`` adds ``+`` to gains."""
        if value is None or not _finite(value):
            return MISSING
        pattern = _number_pattern(self.locale.percent_formats[None], decimals)
        text = str(pattern.apply(Decimal(str(value)), self.locale))
        return f"+{text}" if signed and value > 0 else text

    def decimal(self, value: float | None, decimals: int = 2) -> str:
        """A plain decimal number (scores, probabilities shown as numbers)."""
        if value is None or not _finite(value):
            return MISSING
        return str(format_decimal(value, format=f"#,##0.{'0' * decimals}" if decimals else "#,##0", locale=self.locale))

    # -- dates ---------------------------------------------------------------------------------------------------
    def date(self, value: dt.date | None) -> str:
        """A date in the locale's medium format (``Mar 1, 2025``, ``1 mar 2025``)."""
        if value is None:
            return MISSING
        return str(format_date(value, "medium", locale=self.locale))

    def datetime(self, value: dt.datetime | None) -> str:
        """A timestamp, short date and time."""
        if value is None:
            return MISSING
        return str(format_datetime(value, "short", locale=self.locale))

    def month(self, value: dt.date | None) -> str:
        """A month and year (``Mar 2025``, ``mar 2025``)."""
        if value is None:
            return MISSING
        return str(format_date(value, "MMM y", locale=self.locale))
