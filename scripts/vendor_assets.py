"""Copy the web app's front-end assets from ``node_modules`` into ``src/salesfolio/web/static/vendor/``.

The web app serves everything itself (no CDN): htmx, the Tabler stylesheet and Swagger UI come from npm packages
pinned in ``package.json`` / ``package-lock.json``; plotly.js comes from the plotly Python package and is not
copied. Run after ``npm ci --ignore-scripts``::

    npm ci --ignore-scripts && python scripts/vendor_assets.py

The list of files is :data:`salesfolio.web.assets.VENDOR_FILES` (one definition, also checked at start-up). The
script refuses to continue when a source file is missing and names it; it exits 0 after printing what it copied.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from salesfolio.web.assets import VENDOR_DIR, VENDOR_FILES  # noqa: E402  (needs the src path above)


def copy_vendor_assets(node_modules: Path = ROOT / "node_modules", target: Path = VENDOR_DIR) -> list[Path]:
    """Copy each ``VENDOR_FILES`` entry (target name -> path under node_modules) to ``target``.

    Returns the written paths. Raises ``FileNotFoundError`` naming the first missing source file.
    """
    missing = [node_modules / source for source in VENDOR_FILES.values() if not (node_modules / source).is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]} not found; install the npm packages first: npm ci --ignore-scripts")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, source in VENDOR_FILES.items():
        destination = target / name
        shutil.copyfile(node_modules / source, destination)
        written.append(destination)
    return written


def main() -> int:
    """Copy the assets and print one line per file."""
    try:
        written = copy_vendor_assets()
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"{path.relative_to(ROOT)} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
