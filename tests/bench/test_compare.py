"""``bench.compare``'s bookkeeping: the summary of the rounds and the checkouts it measures
(the load itself is B6's, run by ``python -m bench.compare``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.affinity import context_switches
from bench.compare import WORK_TREE, Sample, checkout, summary
from bench.server import REPO_ROOT


def _sample(added_p50: float, cpu_ms: float = 3.0) -> Sample:
    return Sample(added_p50, added_p50 * 2, added_p50 / 2, cpu_ms, 20.0, 4.0)


def test_summary_gives_medians_and_counts_the_rounds_a_revision_beat_the_first() -> None:
    before = [_sample(5.0), _sample(4.0), _sample(6.0)]
    after = [_sample(4.5, 2.0), _sample(4.2, 2.5), _sample(3.0, 3.5)]
    first, second = summary(["old", "new"], [before, after])
    assert first.startswith(
        "old: median added p50  5.00 ms, p99  10.00 ms; its own p50 2.50 ms; server CPU 3.00"
    )
    assert "lower than" not in first
    assert second.startswith(
        "new: median added p50  4.20 ms, p99   8.40 ms; its own p50 2.10 ms; server CPU 2.50"
    )
    assert second.endswith("p50 lower than old's in 2 of 3 rounds")


def test_a_revision_is_checked_out_beside_the_work_tree_and_removed_afterwards(
    tmp_path: Path,
) -> None:
    target = tmp_path / "code"
    with checkout("HEAD", target) as code:
        assert code == target
        assert (code / "api" / "http" / "app.py").is_file()
    assert not target.exists()
    with checkout(WORK_TREE, tmp_path / "unused") as code:
        assert code == REPO_ROOT


def test_context_switches_count_a_thread_that_waited() -> None:
    voluntary, involuntary = context_switches([os.getpid()])
    time.sleep(0.01)  # a wait: at least one voluntary switch
    later = context_switches([os.getpid()])
    assert later[0] > voluntary
    assert later[1] >= involuntary
