"""The generated parts of docs/data-contract.md, built from the code so that they never go stale.

The document holds hand-written prose and generated sections between ``<!-- BEGIN generated: NAME -->`` and
``<!-- END generated: NAME -->`` markers. :func:`refresh` rewrites the sections; a test fails when the file on
disk differs from what :func:`refresh` makes of it. Run ``python -m salesfolio.ingest.docs docs/data-contract.md``
after changing the contract, the aliases, the stage table or a message.

>>> contract_markdown().splitlines()[0]
'### reps'
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from salesfolio.contract import LOAD_ORDER, TABLES
from salesfolio.ingest.aliases import ALIASES, ATTRIBUTES
from salesfolio.ingest.derive import LOST_STAGES, STAGE_PROBABILITIES, WON_STAGES
from salesfolio.ingest.errors import MESSAGES, WARNINGS


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def contract_markdown() -> str:
    """The canonical tables and their columns, from :data:`salesfolio.contract.TABLES`, in load order."""
    parts: list[str] = []
    for name in LOAD_ORDER:
        spec = TABLES[name]
        parts.append(f"### {name}\n\n")
        parts.append(f"{spec.description}\n\n")
        parts.append(f"Key: {', '.join(spec.key)}.")
        if spec.references:
            refs = ", ".join(f"{r.column} -> {r.table}.{r.target}" for r in spec.references)
            parts.append(f" References: {refs}.")
        parts.append("\n\n| column | type | required | bounds | meaning |\n|---|---|---|---|---|\n")
        for c in spec.columns:
            bounds = ""
            if c.minimum is not None or c.maximum is not None:
                low = "" if c.minimum is None else f"{c.minimum:g}"
                high = "" if c.maximum is None else f"{c.maximum:g}"
                bounds = f"{low}..{high}" if high else f">= {low}"
            required = "yes" if c.required else ""
            parts.append(f"| {c.name} | {c.type} | {required} | {bounds} | {_cell(c.description)} |\n")
        parts.append("\n")
    return "".join(parts).rstrip() + "\n"


def aliases_markdown() -> str:
    """The headers recognised per table and column (:data:`salesfolio.ingest.aliases.ALIASES`)."""
    parts: list[str] = []
    for name in LOAD_ORDER:
        parts.append(f"### {name}\n\n| column | recognised headers (in priority order) |\n|---|---|\n")
        for target, aliases in ALIASES[name].items():
            label = f"{target} (source attribute, {ATTRIBUTES[name][target]})" if target in ATTRIBUTES[name] else target
            listed = ", ".join(f"`{a}`" for a in aliases)
            parts.append(f"| {label} | {_cell(listed)} |\n")
        parts.append("\n")
    return "".join(parts).rstrip() + "\n"


def stages_markdown() -> str:
    """Won and lost stage names and the default probability of open stages."""
    lines = [
        f"Won: {', '.join(f'`{s}`' for s in WON_STAGES)}.\n",
        f"Lost: {', '.join(f'`{s}`' for s in LOST_STAGES)}.\n",
        "| open stage | default probability |\n|---|---|\n",
    ]
    lines.extend(f"| {_cell(stage)} | {p:.2f} |\n" for stage, p in STAGE_PROBABILITIES.items())
    return "\n".join(lines[:2]) + "\n" + "".join(lines[2:])


def messages_markdown() -> str:
    """Every error and warning, by code (:data:`MESSAGES`, :data:`WARNINGS`)."""
    parts = ["| code | error |\n|---|---|\n"]
    parts.extend(f"| {code} | {_cell(text)} |\n" for code, text in MESSAGES.items())
    parts.append("\n| code | warning |\n|---|---|\n")
    parts.extend(f"| {code} | {_cell(text)} |\n" for code, text in WARNINGS.items())
    return "".join(parts)


SECTIONS: dict[str, Callable[[], str]] = {
    "tables": contract_markdown,
    "aliases": aliases_markdown,
    "stages": stages_markdown,
    "messages": messages_markdown,
}


def refresh(text: str) -> str:
    """``text`` with every generated section rebuilt from the code."""
    for name, build in SECTIONS.items():
        pattern = re.compile(
            rf"(<!-- BEGIN generated: {name} -->\n).*?(<!-- END generated: {name} -->)", flags=re.DOTALL
        )
        if not pattern.search(text):
            raise ValueError(f"the document has no generated section {name!r}")
        body = build()
        match = pattern.search(text)
        assert match is not None  # noqa: S101 - checked above
        text = text[: match.start()] + match.group(1) + body + match.group(2) + text[match.end() :]
    return text


def main(argv: list[str] | None = None) -> int:
    """Rewrite the generated sections of the document named on the command line."""
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0] if args else "docs/data-contract.md")
    path.write_text(refresh(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
