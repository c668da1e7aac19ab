"""An append-only journal of a hardware run: one JSON object per line, each line fsynced.

The submission code appends a ``submitted`` record with the job id as soon as the runtime returns
the id and *before* it waits for the job, so a crash at any later point leaves every job
findable. A line cut short by a crash mid-write is terminated by the next append and skipped when
reading (with a warning in the log), as is a line that is not UTF-8 JSON (damage).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["Journal"]

logger = logging.getLogger(__name__)


class Journal:
    """``path``: a ``.jsonl`` file, created on first append."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._warned: set[int] = set()  # lines already reported as skipped

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append ``{"event": event, "time": <UTC ISO>, **fields}`` durably (flush + fsync)."""
        record = {"event": event, "time": _dt.datetime.now(_dt.UTC).isoformat(), **fields}
        line = json.dumps(record, sort_keys=True, default=str)
        if "\n" in line:  # pragma: no cover - json.dumps never emits raw newlines
            raise ValueError("a journal record must be one line")
        new = not self.path.exists()
        torn = not new and self.path.stat().st_size > 0 and self._last_byte() != b"\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(("\n" if torn else "") + line + "\n")
            f.flush()
            os.fsync(f.fileno())
        if new:  # make the new directory entry durable too
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return record

    def _last_byte(self) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1)

    def records(self, *, quiet: bool = False) -> list[dict[str, Any]]:
        """Every complete record, in order (``[]`` if the journal does not exist).

        Skipped lines are logged once per line (``quiet``: not at all, e.g. before refusing the file).
        """
        return list(self._iter(quiet))

    def skipped(self) -> list[int]:
        """Numbers of the lines that are not records (cut short by a crash, or damaged)."""
        skipped: list[int] = []
        list(self._iter(True, skipped))
        return skipped

    def _iter(self, quiet: bool = False, skipped: list[int] | None = None) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        lines = self.path.read_bytes().split(b"\n")
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
                record = json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError):  # a write cut short by a crash, or damage
                if skipped is not None:
                    skipped.append(number)
                if not quiet and number not in self._warned:
                    self._warned.add(number)
                    logger.warning(
                        "%s: skipping line %d, cut short by a crash mid-write: %r", self.path, number, raw[:80]
                    )
                continue
            if not isinstance(record, dict) or "event" not in record:
                raise ValueError(f"{self.path} line {number} must be a journal record; got {line[:80]!r}")
            yield record

    def events(self, event: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r.get("event") == event]
