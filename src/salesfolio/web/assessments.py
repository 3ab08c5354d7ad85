"""Entering an assessment: validate the values (form and API share the rules); saving is a service.

An assessment is the team's judgement of a client for a month: yearly purchasing ``potential`` (workspace
currency, >= 0), ``relationship`` and ``strategic_fit`` (whole numbers 1-5) and a ``note`` (at most 2000
characters). At least one of the three values must be given. The period is a calendar month from January 2000 to
12 months after the current one. Saving the same client and month again replaces the values (one assessment per
client and period, as in the warehouse's ``assessments`` table); the audit entry keeps the previous values.

The form accepts numbers as people type them in their language (``1 250 000,50`` in Polish, ``1,250,000.50`` in
English: :func:`babel.numbers.parse_decimal`); every message names the field and what is expected. Saving (one
transaction with its audit entry) is :func:`salesfolio.services.assessments.save_assessment`, re-exported here.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from babel.numbers import NumberFormatError, parse_decimal

from salesfolio.analytics.timeseries import add_months
from salesfolio.services.assessments import AssessmentValues, save_assessment
from salesfolio.web.i18n import N_, Lang

__all__ = ["AssessmentValues", "Problem", "check_values", "last_period", "parse_form", "save_assessment"]

NOTE_MAX = 2000
POTENTIAL_MAX = 1e15
FIRST_PERIOD = dt.date(2000, 1, 1)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")

MSG_PERIOD_FORMAT = N_("Enter the period as a month, e.g. 2025-03.")
MSG_PERIOD_RANGE = N_("The period must be a month from %(first)s to %(last)s.")
MSG_PERIOD_FIRST_DAY = N_("The period must be the first day of a month, e.g. 2025-03-01.")
MSG_POTENTIAL_NUMBER = N_("Potential must be an amount, e.g. 250000.")
MSG_POTENTIAL_NEGATIVE = N_("Potential cannot be negative.")
MSG_POTENTIAL_LARGE = N_("Potential is too large.")
MSG_RELATIONSHIP = N_("Relationship must be a whole number from 1 to 5.")
MSG_FIT = N_("Strategic fit must be a whole number from 1 to 5.")
MSG_NOTE = N_("The note can have at most %(max)s characters.")
MSG_NOTHING = N_("Enter at least one of potential, relationship or strategic fit.")


@dataclass(frozen=True)
class Problem:
    """A validation problem: the field (or ``__all__``), the message (English source text) and its parameters."""

    field: str
    message: str
    params: tuple[tuple[str, str], ...] = ()

    def text(self, lang: Lang | None = None) -> str:
        """The message, translated when ``lang`` is given."""
        template = lang.gettext(self.message) if lang is not None else self.message
        return template % dict(self.params) if self.params else template


def last_period(today: dt.date) -> dt.date:
    """The latest month that may be assessed: 12 months after ``today``'s month."""
    return add_months(today.replace(day=1), 12)


def check_values(values: AssessmentValues, today: dt.date) -> list[Problem]:
    """The business rules both the form and the API apply (types and ranges already checked)."""
    problems: list[Problem] = []
    latest = last_period(today)
    if values.period.day != 1:
        problems.append(Problem("period", MSG_PERIOD_FIRST_DAY))
    elif not FIRST_PERIOD <= values.period <= latest:
        problems.append(
            Problem("period", MSG_PERIOD_RANGE, (("first", f"{FIRST_PERIOD:%Y-%m}"), ("last", f"{latest:%Y-%m}")))
        )
    if len(values.note) > NOTE_MAX:
        problems.append(Problem("note", MSG_NOTE, (("max", str(NOTE_MAX)),)))
    if values.potential is None and values.relationship is None and values.strategic_fit is None:
        problems.append(Problem("__all__", MSG_NOTHING))
    return problems


def _parse_score(raw: str, message: str, field: str, problems: list[Problem]) -> int | None:
    text = raw.strip()
    if not text:
        return None
    if text.isdigit() and 1 <= int(text) <= 5:
        return int(text)
    problems.append(Problem(field, message))
    return None


def parse_form(form: Mapping[str, str], lang: Lang, today: dt.date) -> tuple[AssessmentValues | None, list[Problem]]:
    """Validate the assessment form; returns the values, or None and every problem found."""
    problems: list[Problem] = []
    period: dt.date | None = None
    match = _MONTH.match(form.get("period", "").strip())
    if match and 1 <= int(match.group(2)) <= 12:
        period = dt.date(int(match.group(1)), int(match.group(2)), 1)
    else:
        problems.append(Problem("period", MSG_PERIOD_FORMAT))
    potential: float | None = None
    raw_potential = form.get("potential", "").strip().replace(" ", "").replace("\u00a0", "")
    if raw_potential:
        try:
            number = float(parse_decimal(raw_potential, locale=lang.locale, strict=True))
        except (NumberFormatError, ValueError):
            problems.append(Problem("potential", MSG_POTENTIAL_NUMBER))
        else:
            if not math.isfinite(number):
                problems.append(Problem("potential", MSG_POTENTIAL_NUMBER))
            elif number < 0:
                problems.append(Problem("potential", MSG_POTENTIAL_NEGATIVE))
            elif number > POTENTIAL_MAX:
                problems.append(Problem("potential", MSG_POTENTIAL_LARGE))
            else:
                potential = number
    relationship = _parse_score(form.get("relationship", ""), MSG_RELATIONSHIP, "relationship", problems)
    strategic_fit = _parse_score(form.get("strategic_fit", ""), MSG_FIT, "strategic_fit", problems)
    note = form.get("note", "").strip()
    if period is None:
        if len(note) > NOTE_MAX:
            problems.append(Problem("note", MSG_NOTE, (("max", str(NOTE_MAX)),)))
        return None, problems
    values = AssessmentValues(period, potential, relationship, strategic_fit, note)
    failed_fields = {p.field for p in problems}
    problems.extend(
        p
        for p in check_values(values, today)
        if p.field not in failed_fields and not (p.field == "__all__" and problems)
    )
    return (None, problems) if problems else (values, [])
