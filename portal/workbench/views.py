"""The workbench's shared web parts: its static files (stylesheet, board script) and the
formatting its templates use."""
from __future__ import annotations

from flask import Blueprint

# Served by the app itself under a path of its own (bank intranets have no CDN).
blueprint = Blueprint("workbench", __name__, static_folder="static",
                      static_url_path="/workbench/static")
