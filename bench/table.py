"""The one table ``python -m bench`` prints: per row a measure, its baseline, and the ratio.

Every figure is collected once per interleaved round, so a row shows min/median/max over the
rounds; whether a goal is met is decided on the medians (one slow round on a shared machine
does not fail a row, a slow median does).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.5: the median sample, 0.99: p99)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@dataclass(frozen=True)
class Spread:
    """min / median / max of one figure over the rounds."""

    low: float
    mid: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("no rounds")
        return cls(min(values), statistics.median(values), max(values))

    def format(self, unit: str = "", digits: int = 2) -> str:
        suffix = f" {unit}" if unit else ""
        return f"{self.low:.{digits}f} / {self.mid:.{digits}f} / {self.high:.{digits}f}{suffix}"


@dataclass
class Row:
    """One benchmark row. ``baseline`` and ``value`` hold one figure per round; ``ratio`` is
    value ÷ baseline per round unless a row records its own ``ratios`` (e.g. a fairness
    ratio). ``goal`` says in words what ``check`` decides from the medians."""

    name: str
    measure: str
    goal: str
    check: Callable[[Row], bool]
    unit: str = ""
    baseline: list[float] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    faults: int = 0  # timeouts and failed requests: any fails the row
    # What the server said it added (``X-Gateway-Overhead-Ms``), one p50 per round: context for
    # a row whose goal is client-measured, never what decides it.
    server_ms: list[float] = field(default_factory=list)
    # B5 only: ms the gateway adds around the engine call, one per round: the median of (call
    # less the engine time the server reports) less the median of (direct call less its engine
    # time). What decides B5's "ms added" (see ``gateway.b5_round``).
    around: list[float] = field(default_factory=list)
    # B5 only, one per round: the same "around" for gateway calls made back to back, with no
    # engine call of the bench's between them (not judged: see ``gateway.b5_round``).
    back_to_back: list[float] = field(default_factory=list)
    # B5 only, per round: the engine's own p50 in the bench's process and inside the server,
    # and the interquartile range of the bench's engine calls (how much one call varies).
    engines: list[tuple[float, float, float]] = field(default_factory=list)
    # B6 only: ms added when the 50 callers run in lockstep waves (see ``gateway.b6_round``).
    lockstep: list[float] = field(default_factory=list)
    # B6 only: ms added by ``/bench/relay``, the same call without the hold, the stored file and
    # the settlement, measured beside the judged one: the floor under the row's figure.
    floor: list[float] = field(default_factory=list)
    # B6 only: the server's CPU ms per call (all its processes and threads, from ``/proc``),
    # through the gateway and through ``/bench/relay``, one pair per round: with one core for
    # the server, every call waits behind the others' CPU as well as its own.
    server_cpu: list[tuple[float, float]] = field(default_factory=list)
    # B6 only: ms added by the same calls streamed (``stream`` true, the OpenAI dialect's
    # default), p50 and p99 of each round: the path most clients take, beside the judged one.
    streamed: list[tuple[float, float]] = field(default_factory=list)
    # B6 only: ms added, p50 and p99 of each round, when the callers and the provider fake may
    # run on the server's cores too (the judged calls keep them apart: ``bench.affinity``).
    shared: list[tuple[float, float]] = field(default_factory=list)
    error: str = ""  # the row could not be measured at all

    def add(self, baseline: float, value: float, ratio: float | None = None) -> None:
        """One round's figures; the ratio defaults to value ÷ baseline."""
        self.baseline.append(baseline)
        self.value.append(value)
        self.ratios.append(value / baseline if ratio is None else ratio)

    def median(self, which: str) -> float:
        return statistics.median(getattr(self, which))

    def added(self) -> float:
        """Median over the rounds of value − baseline (e.g. ms a gateway adds)."""
        return statistics.median(v - b for v, b in zip(self.value, self.baseline, strict=True))

    @property
    def met(self) -> bool:
        return not self.error and not self.faults and bool(self.ratios) and self.check(self)

    def cells(self) -> list[str]:
        if self.error or not self.ratios:
            reason = self.error or "no round completed"
            return [self.name, self.measure, "—", "—", "—", self.goal, f"no ({reason})"]
        return [
            self.name,
            self.measure,
            Spread.of(self.baseline).format(self.unit, _digits(self.baseline)),
            Spread.of(self.value).format(self.unit, _digits(self.value)),
            Spread.of(self.ratios).format("×"),
            self.goal,
            "yes" if self.met else "**no**",
        ]


def _digits(values: Sequence[float]) -> int:
    """Enough decimals to tell values apart: none for hundreds, three below one."""
    biggest = max(abs(v) for v in values)
    return 0 if biggest >= 100 else 1 if biggest >= 10 else 2 if biggest >= 1 else 3


HEADER = ["row", "measure", "baseline", "value", "ratio", "goal", "met"]


def markdown(rows: Sequence[Row]) -> str:
    """The table as Markdown (min / median / max in each figure cell)."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows:
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row.cells()) + " |")
    notes = [f"- {row.name}: {note}" for row in rows for note in row.notes]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)
