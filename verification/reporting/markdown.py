"""Markdown the step summaries share: text made safe for one table cell."""

from __future__ import annotations


def cell(text: str) -> str:
    """Text safe inside one Markdown table cell: pipes and backslashes escaped, line breaks as ``<br>``."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", "<br>")
