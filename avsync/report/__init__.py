"""Reports of a verdict: a self-contained HTML page with plots, and per-window CSV."""

from avsync.report.html import render_html, write_html
from avsync.report.tables import windows_csv

__all__ = ["render_html", "write_html", "windows_csv"]
