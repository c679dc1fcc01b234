"""The one blueprint of the pages (served at ``/``), with GOV.UK Frontend's assets.

``/static/...`` serves ``web/static`` (our script and GOV.UK Frontend's CSS and JS);
``/assets/...`` serves ``web/static/govuk/assets`` (fonts and images, at the path the
compiled CSS names).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

STATIC = Path(__file__).resolve().parent / "static"
bp = Blueprint("web", __name__, static_folder=str(STATIC), static_url_path="/static")


@bp.route("/assets/<path:filename>")
def govuk_assets(filename: str):
    return send_from_directory(STATIC / "govuk" / "assets", filename, max_age=3600)


def attachment(body, mimetype: str, filename: str) -> Response:
    """A file download of ``body`` named ``filename`` (every page's CSV, JSON, PDF and
    Markdown downloads)."""
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})
