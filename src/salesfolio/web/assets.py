"""Front-end assets the app serves itself: which files, where they live, and the start-up check.

No asset comes from a CDN. plotly.js is shipped inside the plotly Python package; htmx, the Tabler stylesheet and
Swagger UI come from npm (``package.json`` pins them) and are copied into ``static/vendor/`` by
``scripts/vendor_assets.py``. That folder is not in git, so :func:`check_vendor_assets` runs when the app is built
and names the missing file and the command that restores it.
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor"

VENDOR_FILES: dict[str, str] = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "tabler.min.css": "@tabler/core/dist/css/tabler.min.css",
    "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
}
"""File name in ``static/vendor/`` -> its path under ``node_modules``."""

FIX_COMMAND = "npm ci --ignore-scripts && python scripts/vendor_assets.py"


class VendorAssetsMissing(RuntimeError):
    """A front-end file the pages need is not in ``static/vendor/``; the message says how to restore it."""


def plotly_js_path() -> Path:
    """``plotly.min.js`` as shipped in the installed plotly Python package (its ``package_data`` folder)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def check_vendor_assets(vendor_dir: Path | None = None) -> None:
    """Raise :class:`VendorAssetsMissing` naming the first missing asset file and the command to fix it.

    ``vendor_dir`` defaults to :data:`VENDOR_DIR` (``static/vendor/``).
    """
    vendor_dir = VENDOR_DIR if vendor_dir is None else vendor_dir
    for name in VENDOR_FILES:
        path = vendor_dir / name
        if not path.is_file():
            raise VendorAssetsMissing(f"front-end asset missing: {path}; run from the repository root: {FIX_COMMAND}")
    plotly_js = plotly_js_path()
    if not plotly_js.is_file():
        raise VendorAssetsMissing(f"plotly.js missing: {plotly_js}; reinstall the plotly Python package")


PLOTLY_CSS_ANCHOR = '"X,X div":'


def _js_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    if quote not in "'\"":
        raise ValueError(f"expected a string literal at {start}")
    out = []
    i = start + 1
    while text[i] != quote:
        if text[i] == "\\":
            i += 1
        out.append(text[i])
        i += 1
    return "".join(out), i + 1


def plotly_css(plotly_js: str) -> str:
    """plotly.js's own style rules as a stylesheet, read from the bundle's rule table.

    plotly.js normally injects these rules into a ``<style>`` element, which a Content-Security-Policy without
    ``'unsafe-inline'`` styles blocks. plotly.js 3+ skips the injection when the page has an element with id
    ``plotly.js-style-global`` and class ``no-inline-styles``; the pages then link this stylesheet under that id.
    The selectors are expanded as plotly.js does (``X`` -> ``.js-plotly-plot .plotly``, ``Y`` ->
    ``.plotly-notifier``). Raises ``ValueError`` when the bundle has no such table (a plotly.js it does not know).
    """
    anchor = plotly_js.find(PLOTLY_CSS_ANCHOR)
    if anchor < 0:
        raise ValueError("plotly.js bundle has no style rule table")
    i = anchor
    rules = []
    while True:
        if plotly_js[i] in "'\"":
            selector, i = _js_string(plotly_js, i)
        else:  # a key the minifier left unquoted (an identifier such as Y)
            end = i
            while plotly_js[end].isalnum() or plotly_js[end] in "_$":
                end += 1
            selector, i = plotly_js[i:end], end
        if plotly_js[i] != ":":
            raise ValueError(f"unexpected {plotly_js[i]!r} in plotly.js style table")
        declarations, i = _js_string(plotly_js, i + 1)
        full = selector.replace("X", ".js-plotly-plot .plotly").replace("Y", ".plotly-notifier")
        full = " ," + full[1:] if full.startswith(",") else full
        rules.append(f"{full}{{{declarations}}}")
        if plotly_js[i] == "}":
            break
        if plotly_js[i] != ",":
            raise ValueError(f"unexpected {plotly_js[i]!r} in plotly.js style table")
        i += 1
    return "/* plotly.js style rules, extracted by salesfolio.web.assets.plotly_css */\n" + "\n".join(rules) + "\n"
