"""The bench table's arithmetic: percentiles, min/median/max, ratios, "added", and verdicts."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bench.gateway import server_timing
from bench.run import BEGIN, END, _b5_notes, new_rows, rows_named, write_results
from bench.table import Row, Spread, markdown, percentile


def test_percentile_is_the_nearest_rank_of_the_sorted_values() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 100 … 1, unsorted on purpose
    assert percentile(values, 0.5) == 51.0  # index round(0.5 × 99) = 50 of 1 … 100
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 0.0) == 1.0 and percentile(values, 1.0) == 100.0
    assert percentile([7.0], 0.99) == 7.0


def test_spread_is_min_median_max() -> None:
    spread = Spread.of([3.0, 1.0, 2.0, 10.0])
    assert (spread.low, spread.mid, spread.high) == (1.0, 2.5, 10.0)
    assert spread.format("ms", 1) == "1.0 / 2.5 / 10.0 ms"


def test_a_round_ratio_is_value_over_baseline_unless_given() -> None:
    row = Row("B1", "m", "≥ 0.5×", lambda r: r.median("ratios") >= 0.5)
    row.add(1000.0, 600.0)
    row.add(800.0, 200.0)
    row.add(900.0, 900.0)
    assert row.ratios == [0.6, 0.25, 1.0]
    assert row.median("ratios") == 0.6 and row.met
    fairness = Row("B3", "m", "g", lambda r: True)
    fairness.add(19.0, 40.0, 0.9)
    assert fairness.ratios == [0.9]


def test_added_is_the_median_of_per_round_differences() -> None:
    row = Row("B5", "m", "≤ 5 ms added", lambda r: r.added() <= 5, unit="ms")
    for baseline, value in [(100.0, 103.0), (200.0, 210.0), (150.0, 154.0)]:
        row.add(baseline, value)
    assert row.added() == 4.0 and row.met
    row.add(100.0, 200.0)  # a fourth round: differences 3, 4, 10, 100
    assert row.added() == 7.0 and not row.met


def test_b5_is_judged_on_the_time_around_the_engine_and_shows_the_raw_difference() -> None:
    """B5's "ms added" is what the gateway adds around the engine call: a raw difference of
    medians swings with the engine's own jitter, so it is shown, not judged; so is the figure
    of gateway calls made back to back."""
    row = new_rows()["B5"]
    for around in (3.0, 4.0, 6.0):
        row.add(450.0, 470.0)  # raw: 20 ms added, the engine having been slower that time
        row.around.append(around)
        row.engines.append((440.0, 460.0, 12.0))
        row.server_ms.append(2.5)
        row.floor.append(1.5)
        row.back_to_back.append(9.5)  # shown, never judged
    assert row.met  # ratio 1.04, 4.0 ms around the engine
    _b5_notes(row)
    assert any("(judged)" in note and "4.0 ms" in note for note in row.notes)
    assert any("raw" in note and "20.0 ms" in note and "12.0 ms" in note for note in row.notes)
    assert any("440.0 ms in the bench's process, 460.0 ms inside" in note for note in row.notes)
    assert any("X-Gateway-Overhead-Ms" in note and "2.5 ms" in note for note in row.notes)
    assert any("floor" in note and "1.5 ms" in note for note in row.notes)
    assert any("back to back" in note and "9.5 ms" in note for note in row.notes)
    row.around.append(9.0)
    row.around.append(8.0)  # around: 3, 4, 6, 9, 8: median 6
    assert not row.met


def test_server_timing_is_read_by_metric_name() -> None:
    response = httpx.Response(200, headers={"Server-Timing": "engine;dur=446.5, gateway;dur=4.4"})
    assert server_timing(response.headers) == {"engine": 446.5, "gateway": 4.4}


def test_skip_takes_a_row_by_its_number() -> None:
    assert rows_named(["B6"]) == {"B6 p50", "B6 p99"}
    assert rows_named(["B2", "B10"]) == {"B2", "B2 tail", "B10"}
    assert rows_named(["B6 p99"]) == {"B6 p99"}
    with pytest.raises(SystemExit, match="no such row: B11"):
        rows_named(["B11"])


def test_faults_errors_and_empty_rows_are_not_met_and_say_so() -> None:
    row = Row("B2 tail", "m", "p99 ≤ 4× p50", lambda r: r.median("ratios") <= 4)
    row.add(10.0, 20.0)
    assert row.met
    row.faults = 1
    assert not row.met and row.cells()[-1] == "**no**"
    empty = Row("B4", "m", "g", lambda r: True)
    assert not empty.met and empty.cells()[-1] == "no (no round completed)"
    broken = Row("B6", "m", "g", lambda r: True, error="provider fake did not start")
    broken.add(1.0, 1.0)
    assert not broken.met and "provider fake did not start" in broken.cells()[-1]


def test_the_table_has_every_issue_row_and_one_line_each() -> None:
    rows = new_rows()
    assert {"B1", "B2", "B3", "B4", "B5", "B6 p50", "B7", "B8", "B9", "B10"} <= rows.keys()
    rows["B1"].add(1000.0, 400.0)
    rows["B1"].notes.append("a note")
    text = markdown(list(rows.values()))
    lines = text.splitlines()
    assert lines[0].startswith("| row | measure | baseline | value | ratio | goal | met |")
    b1 = next(line for line in lines if line.startswith("| B1 |"))
    assert "0.40 / 0.40 / 0.40 ×" in b1 and b1.endswith("| **no** |")
    assert "- B1: a note" in lines


def test_results_keep_the_prose_around_the_markers(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    write_results(results, "first table\n")
    assert results.read_text() == f"{BEGIN}\nfirst table\n{END}\n"
    results.write_text(f"# Title\n\nProse.\n\n{BEGIN}\nold\n{END}\n\n## Notes\nkept\n")
    write_results(results, "new table\n")
    assert results.read_text() == (
        f"# Title\n\nProse.\n\n{BEGIN}\nnew table\n{END}\n\n## Notes\nkept\n"
    )


def test_the_collector_is_off_while_a_row_measures_and_back_on_after() -> None:
    import gc

    from bench.run import collector_paused

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a row that fails")
    assert gc.isenabled()
