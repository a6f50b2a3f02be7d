"""The interactive HTML report: ``report.html`` beside an input's maps (``run --html``).

The page is one file: hand-written CSS and JavaScript from ``report_assets/``
are copied into it, the map pictures are the PNG files of the same folder (or
``data:`` URIs for a notebook), and the numbers it shows on hover come from
data embedded in the page or, for a large input, from sidecar files beside it
(:mod:`cnnpipe.outputs.report_data` says which). This module assembles the
page and the batch's ``index.html``; :mod:`cnnpipe.outputs.notebook` shows the
same page in a notebook.

Nothing is fetched from the network: no fonts, no scripts, no styles.
"""

from __future__ import annotations

import html
import json
import os
from importlib import resources
from pathlib import Path

from cnnpipe import io
from cnnpipe.outputs.report_data import (
    EXACT_BUDGET,
    EXACT_CELLS,
    Collector,
    encode_input,
    legend,
    page_data,
    pool_size_text,
)

REPORT = "report.html"
INDEX = "index.html"


def _asset(name: str) -> str:
    return resources.files("cnnpipe.outputs").joinpath("report_assets", name).read_text("utf-8")


# --- the page -----------------------------------------------------------------------------

def _script_json(data) -> str:
    # inside <script>: "</" would end the element, "<!--" would start a comment
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def render_fragment(data: dict) -> str:
    """The report as one ``<div>`` with its style and script (for notebooks and pages).

    The input's values (base64: nothing to escape) sit in their own element, so they
    are neither JSON-encoded here nor JSON-parsed in the page; a large input's values
    are not in the page at all but in sidecar files beside it (``values["bands"]``).
    """
    css = _asset("report.css")
    js = _asset("report.js")
    values = data["input"]["values"]
    light = {**data, "input": {**data["input"], "values": {**values, "b64": None}}}
    blobs = []  # exact map values: base64, nothing to escape, so kept out of the JSON
    layers = []
    for layer in data.get("layers", []):
        dets = []
        for det in layer["detectors"]:
            maps = {}
            for stage, m in det["maps"].items():
                if m.get("values"):
                    blobs.append(f'<script type="application/octet-stream" class="cnnpipe-values" '
                                 f'data-file="{html.escape(m["file"])}">{m["values"]}</script>')
                maps[stage] = {**m, "values": bool(m.get("values"))}
            dets.append({**det, "maps": maps})
        layers.append({**layer, "detectors": dets})
    light["layers"] = layers
    return (
        f'<div class="cnnpipe-report" lang="en">'
        f"<style>{css}</style>"
        f'<noscript>This report needs JavaScript for its maps and hover details.</noscript>'
        f'<script type="application/json" class="cnnpipe-data">{_script_json(light)}</script>'
        f'<script type="application/octet-stream" class="cnnpipe-input">{values["b64"] or ""}'
        f"</script>{''.join(blobs)}<script>{js}</script></div>"
    )


def render_page(data: dict) -> str:
    """A complete HTML page for ``data``."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "img-src 'self' data: file:; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline' 'self' file:\">"  # 'self'/file: the values beside it
        f"<title>{html.escape(data['title'])}</title></head><body>"
        f"{render_fragment(data)}</body></html>\n"
    )


def report_bytes(manifest: dict, config, collector: Collector):
    """A callable giving ``report.html``'s bytes (for the writer's background threads)."""
    return lambda: render_page(page_data(manifest, config, collector)).encode("utf-8")


# --- the batch index ----------------------------------------------------------------------

def write_index(out_root, reports: list[dict]) -> Path:
    """Write ``OUT/index.html``: every input's report with a thumbnail and its status."""
    root = Path(out_root)
    rows = []
    for r in sorted(reports, key=lambda r: str((r.get("input") or {}).get("path") or "")):
        path = (r.get("input") or {}).get("path") or r.get("path") or "?"
        status = r.get("status", "?")
        folder = r.get("output")
        rel = os.path.relpath(folder, root).replace(os.sep, "/") if folder else None
        has_report = rel is not None and status != "failed" and (
            Path(folder) / REPORT).is_file()
        thumb = ""
        if has_report:
            thumb = (f'<img src="{html.escape(rel)}/00-input.png" alt="" loading="lazy" '
                     'decoding="async">')
        name = html.escape(str(path))
        link = f'<a href="{html.escape(rel)}/{REPORT}">{name}</a>' if has_report else name
        reason = html.escape(str(r.get("error", ""))) if status == "failed" else ""
        rows.append(f'<li class="{html.escape(status)}"><span class="thumb">{thumb}</span>'
                    f'<span class="name">{link}</span><span class="status">{status}</span>'
                    f'<span class="reason">{reason}</span></li>')
    counts = {s: sum(1 for r in reports if r.get("status") == s)
              for s in ("ok", "skipped", "failed")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>cnnpipe batch</title><style>" + _asset("index.css") + "</style></head><body>"
        f"<h1>cnnpipe batch: {len(reports)} inputs</h1><p class=\"summary\">{summary}</p>"
        f'<ul class="inputs">{"".join(rows)}</ul></body></html>\n'
    )
    root.mkdir(parents=True, exist_ok=True)
    io.atomic_write(root / INDEX, page.encode("utf-8"))
    return root / INDEX


__all__ = ["Collector", "EXACT_BUDGET", "EXACT_CELLS", "INDEX", "REPORT", "encode_input", "legend",
           "page_data", "pool_size_text", "render_fragment", "render_page", "report_bytes",
           "write_index"]
