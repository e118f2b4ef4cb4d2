"""Side-by-side timing: candidates run interleaved in one process, and ratios of medians are reported.

Machines here are shared and noisy, so absolute times mean little; each round runs every candidate once in
turn (after a warm-up round), and the ratio of medians compares them under the same conditions.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def measure(candidates: dict[str, Callable[[], object]], rounds: int = 7, warmup: int = 1,
            check: Callable[[dict[str, object]], None] | None = None) -> dict[str, float]:
    """Median seconds per candidate; ``check`` sees each candidate's last result (to assert they agree)."""
    results: dict[str, object] = {}
    for _ in range(warmup):
        for name, run in candidates.items():
            results[name] = run()
    if check is not None:
        check(results)
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, run in candidates.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(samples) for name, samples in times.items()}


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain aligned text table (also valid Markdown)."""
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def minute_bars(rows: int, seed: int = 0):
    """A 1-minute OHLCV frame of ``rows`` rows from 2015-01-01, index ``ts`` (the benchmarks' symbol)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    close = 100 + np.cumsum(rng.normal(0, 0.01, rows))
    return pd.DataFrame({"open": close + 0.01, "high": close + 0.02, "low": close - 0.02, "close": close,
                         "volume": rng.integers(100, 10_000, rows)},
                        index=pd.date_range("2015-01-01", periods=rows, freq="min", name="ts"))
