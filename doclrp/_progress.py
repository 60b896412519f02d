"""Progress of long work with an estimate of the time left: a bar on a terminal, plain lines elsewhere.

>>> import io
>>> out = io.StringIO()
>>> with Progress(4, "explaining", unit="doc", stream=out, terminal=False) as progress:
...     progress.update(2)
>>> out.getvalue().splitlines()[0].startswith("explaining: 2/4 doc (50%)")
True

On a terminal this is tqdm's bar (rate and time left). Written to a file or a pipe (logs, CI,
a test's subprocess), a bar would be a stream of carriage returns; instead one line is
written at the first step, then at most every ``every`` seconds, and one at the end, each
with the elapsed time and an estimate of the time left, so that no long command is silent.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from tqdm.auto import tqdm  # type: ignore[import-untyped]

__all__ = ["Progress", "duration", "EVERY"]

#: Seconds between two progress lines when the output is not a terminal.
EVERY = 30.0


def duration(seconds: float) -> str:
    """A duration as people say it.

    >>> duration(4.2), duration(75), duration(3 * 3600 + 120)
    ('4 s', '1 min 15 s', '3 h 2 min')
    """
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s" if seconds % 60 else f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class Progress:
    """``total`` units of work (None: unknown), shown as ``desc``; ``enabled=False`` shows nothing.

    ``terminal``: draw a bar (default: when ``stream`` is a terminal). ``note``: said after the
    estimate (e.g. "early stopping may end sooner"). ``write(line)`` prints a result line
    without breaking the bar.
    """

    def __init__(self, total: int | None, desc: str, *, unit: str = "it", enabled: bool = True,
                 stream: TextIO | None = None, terminal: bool | None = None, every: float = EVERY,
                 note: str = "") -> None:
        self.total, self.desc, self.unit, self.note = total, desc, unit, note
        self.enabled, self.every = enabled, every
        self.stream = stream or sys.stderr
        self.done = 0
        self.started = time.perf_counter()
        self._last: float | None = None
        self._bar: Any = None
        if enabled and (terminal if terminal is not None else _is_terminal(self.stream)):
            self._bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream, dynamic_ncols=True,
                             mininterval=0.5)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(finished=exc[0] is None)

    def set_description(self, desc: str) -> None:
        self.desc = desc
        if self._bar is not None:
            self._bar.set_description(desc, refresh=False)

    def update(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.perf_counter()
        if self._last is None or now - self._last >= self.every:
            self._last = now
            print(self.line(), file=self.stream, flush=True)

    def line(self) -> str:
        """Where the work stands: done of total, elapsed time, an estimate of the time left."""
        elapsed = time.perf_counter() - self.started
        if self.total:
            share = f" ({100 * self.done / self.total:.0f}%)"
            left = ""
            if 0 < self.done < self.total:
                left = f", about {duration(elapsed / self.done * (self.total - self.done))} left"
            text = f"{self.desc}: {self.done}/{self.total} {self.unit}{share}, {duration(elapsed)} elapsed{left}"
        else:
            text = f"{self.desc}: {self.done} {self.unit}, {duration(elapsed)} elapsed"
        return f"{text} ({self.note})" if self.note and self.total and self.done < self.total else text

    def write(self, line: str, stream: TextIO | None = None) -> None:
        if self._bar is not None:
            self._bar.write(line, file=stream or sys.stdout)
        else:
            print(line, file=stream or sys.stdout, flush=True)

    def close(self, finished: bool = True) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.enabled and finished and self._last is not None:
            print(f"{self.desc}: {self.done} {self.unit} in {duration(time.perf_counter() - self.started)}",
                  file=self.stream, flush=True)
        self.enabled = False


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or file-less stream
        return False
