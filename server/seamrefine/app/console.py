"""Terminal output shared by the commands: the progress bar and how seam scores are printed."""

from __future__ import annotations

import sys


def format_score(score) -> str:
    """A seam score for people: four decimals, or ``n/a`` where it could not be measured."""
    return "n/a" if score is None else f"{score:.4f}"


def progress_bar(done: int, total: int, label: str = "", width: int = 30, stream=None) -> None:
    """A one-line text bar on stderr, redrawn in place."""
    stream = stream or sys.stderr
    filled = int(width * done / max(total, 1))
    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label[:40]:<40}")
    if done >= total:
        stream.write("\n")
    stream.flush()
