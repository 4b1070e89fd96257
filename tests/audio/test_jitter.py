"""ReorderBuffer: per-track reordering by chunk number."""

from __future__ import annotations

import random

import pytest

from console.audio.jitter import Push, Released, ReorderBuffer


def keys(released: list[Released[str]]) -> list[int | None]:
    return [r.key for r in released]


def feed(buf: ReorderBuffer[str], order: list[int]) -> tuple[list[Released[str]], list[str]]:
    out: list[Released[str]] = []
    statuses: list[str] = []
    for k in order:
        res = buf.push(k, f"f{k}")
        out.extend(res.released)
        statuses.append(res.status)
    return out, statuses


def test_in_order_release_after_initial_hold() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(depth=3)
    # The first `depth` frames are held: the first to arrive may not be the first sent.
    for k in (1, 2, 3):
        res = buf.push(k, f"f{k}")
        assert res.released == []
        assert res.status == "ok"
    assert len(buf) == 3 and buf.pending_frames == 3
    res = buf.push(4, "f4")
    assert keys(res.released) == [1, 2, 3, 4]
    assert [r.item for r in res.released] == ["f1", "f2", "f3", "f4"]
    assert all(r.missing_before == 0 for r in res.released)
    # Steady state: each in-order frame comes straight out.
    for k in range(5, 20):
        res = buf.push(k, f"f{k}")
        assert keys(res.released) == [k]
        assert res.released[0].missing_before == 0
    assert len(buf) == 0
    assert (buf.missing, buf.duplicates, buf.late) == (0, 0, 0)


def test_depth_zero_releases_immediately() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(depth=0)
    assert keys(buf.push(10, "a").released) == [10]
    assert keys(buf.push(11, "b").released) == [11]


def test_negative_depth_is_clamped() -> None:
    assert ReorderBuffer(depth=-5).depth == 0


def test_out_of_order_within_depth_is_reordered() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(depth=3)
    out, statuses = feed(buf, [2, 1, 4, 3, 5, 7, 6, 8, 10, 9])
    out += buf.flush()
    assert keys(out) == list(range(1, 11))
    assert all(r.missing_before == 0 for r in out)
    assert set(statuses) == {"ok"}
    assert buf.missing == 0


def test_missing_frame_is_waited_for_within_depth() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(depth=3)
    feed(buf, [1, 2, 3, 4])
    # 5 is late: 6, 7, 8 wait for it (3 frames = depth).
    out, _ = feed(buf, [6, 7, 8])
    assert out == []
    out, _ = feed(buf, [5])
    assert keys(out) == [5, 6, 7, 8]
    assert all(r.missing_before == 0 for r in out)


def test_gap_beyond_depth_is_released_with_missing_count() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(depth=3)
    feed(buf, [1, 2, 3, 4])
    out, _ = feed(buf, [6, 7, 8])
    assert out == []
    res = buf.push(9, "f9")  # the fourth waiting frame: give up on 5
    assert keys(res.released) == [6, 7, 8, 9]
    assert [r.missing_before for r in res.released] == [1, 0, 0, 0]
    assert buf.missing == 1
    # A multi-frame gap.
    out, _ = feed(buf, [13, 14, 15, 16])
    assert keys(out) == [13, 14, 15, 16]
    assert out[0].missing_before == 3
    assert buf.missing == 4


def test_duplicates_are_flagged_and_not_released_twice() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(depth=3)
    out, _ = feed(buf, [1, 2])
    res = buf.push(2, "again")  # duplicate of a pending frame
    assert res.status == "duplicate"
    assert res.released == []
    out2, _ = feed(buf, [3, 4, 5])
    assert keys(out + out2) == [1, 2, 3, 4, 5]
    assert [r.item for r in out2 if r.key == 2] == ["f2"]  # the first copy won
    res = buf.push(4, "again")  # duplicate of an already released frame
    assert res.status == "duplicate"
    assert res.released == []
    assert buf.duplicates == 2
    assert buf.late == 0
    assert keys(buf.flush()) == []


def test_late_frame_after_its_slot_was_given_up() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(depth=2)
    feed(buf, [1, 2, 3])
    out, _ = feed(buf, [5, 6, 7])  # 4 given up
    assert keys(out) == [5, 6, 7]
    assert out[0].missing_before == 1
    res = buf.push(4, "f4")
    assert res.status == "late"
    assert res.released == []
    assert buf.late == 1
    # The same late frame again is now a duplicate, not a second "late".
    res = buf.push(4, "f4")
    assert res.status == "duplicate"
    assert buf.late == 1
    assert buf.duplicates == 1
    # Normal flow continues.
    assert keys(buf.push(8, "f8").released) == [8]


def test_step_learning_for_a_shared_counter() -> None:
    # One stream-wide counter across two tracks: this track sees 1, 3, 5, ...
    buf: ReorderBuffer[str] = ReorderBuffer(depth=3)
    out, statuses = feed(buf, list(range(1, 40, 2)))
    out += buf.flush()
    assert keys(out) == list(range(1, 40, 2))
    assert all(r.missing_before == 0 for r in out)
    assert buf.missing == 0
    assert buf.step == 2
    assert set(statuses) == {"ok"}


def test_step_learning_counts_real_gaps_in_steps() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(depth=2)
    out, _ = feed(buf, [2, 4, 6, 8, 12, 14, 16])  # 10 lost
    out += buf.flush()
    assert keys(out) == [2, 4, 6, 8, 12, 14, 16]
    assert [r.missing_before for r in out] == [0, 0, 0, 0, 1, 0, 0]
    assert buf.missing == 1


def test_step_learning_with_reordering() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(depth=3)
    out, _ = feed(buf, [3, 1, 7, 5, 9, 13, 11, 15])
    out += buf.flush()
    assert keys(out) == [1, 3, 5, 7, 9, 11, 13, 15]
    assert buf.missing == 0


def test_key_none_passes_straight_through() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(depth=3)
    feed(buf, [1, 2])
    res = buf.push(None, "unkeyed")
    assert isinstance(res, Push)
    assert res.status == "ok"
    assert len(res.released) == 1
    assert res.released[0].key is None
    assert res.released[0].item == "unkeyed"
    assert res.released[0].missing_before == 0
    assert len(buf) == 2  # keyed frames still held
    res = buf.push(None, "unkeyed")  # never a duplicate
    assert res.status == "ok" and len(res.released) == 1


def test_flush_releases_everything_in_order() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(depth=5)
    out, _ = feed(buf, [4, 2, 3])
    assert out == []
    flushed = buf.flush()
    assert keys(flushed) == [2, 3, 4]
    assert len(buf) == 0
    assert buf.flush() == []


def test_flush_with_a_hole_reports_missing() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(depth=5)
    feed(buf, [1, 2, 3, 4, 5, 6])  # releases 1..6
    out, _ = feed(buf, [9, 8])
    assert out == []
    flushed = buf.flush()
    assert keys(flushed) == [8, 9]
    assert [r.missing_before for r in flushed] == [1, 0]


def test_flush_then_continue() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(depth=3)
    feed(buf, [1, 2])
    assert keys(buf.flush()) == [1, 2]
    assert keys(buf.push(3, "f3").released) == [3]
    assert buf.push(2, "f2").status == "duplicate"


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(("depth", "step"), [(3, 1), (4, 2), (6, 1), (8, 3)])
def test_random_shuffle_within_window_is_fully_reordered(seed: int, depth: int, step: int) -> None:
    rng = random.Random(seed * 1000 + depth * 10 + step)
    window = depth  # each frame arrives at most depth - 1 places early
    sent = [100 + step * i for i in range(300)]
    arrival = sorted(range(len(sent)), key=lambda i: i + rng.random() * window)
    order = [sent[i] for i in arrival]
    assert order != sent
    buf: ReorderBuffer[str] = ReorderBuffer(depth=depth)
    out, statuses = feed(buf, order)
    assert len(buf) <= depth
    out += buf.flush()
    assert keys(out) == sent
    assert sum(r.missing_before for r in out) == 0
    assert set(statuses) == {"ok"}
    assert (buf.missing, buf.duplicates, buf.late) == (0, 0, 0)


@pytest.mark.parametrize("seed", range(5))
def test_random_shuffle_with_duplicates(seed: int) -> None:
    rng = random.Random(seed)
    depth = 4
    sent = list(range(1, 201))
    arrival = sorted(range(len(sent)), key=lambda i: i + rng.random() * (depth - 1))
    order: list[int] = []
    dupes = 0
    for i in arrival:
        order.append(sent[i])
        if rng.random() < 0.1:
            order.append(sent[i])
            dupes += 1
    buf: ReorderBuffer[str] = ReorderBuffer(depth=depth)
    out, statuses = feed(buf, order)
    out += buf.flush()
    assert keys(out) == sent
    assert statuses.count("duplicate") == dupes
    assert buf.duplicates == dupes
    assert buf.missing == 0


@pytest.mark.parametrize("seed", range(5))
def test_random_loss_accounting(seed: int) -> None:
    rng = random.Random(seed)
    depth = 3
    sent = [k for k in range(1, 301) if rng.random() > 0.1 or k == 1]
    buf: ReorderBuffer[str] = ReorderBuffer(depth=depth)
    out, _ = feed(buf, sent)
    out += buf.flush()
    assert keys(out) == sent
    assert buf.missing == sent[-1] - sent[0] + 1 - len(sent)
    assert sum(r.missing_before for r in out) == buf.missing


# --- counters that jump: a discontinuity restarts the timeline, never fills the gap -------


@pytest.mark.parametrize("jump", [10**12, -(10**12), 251, -251])
def test_a_jump_beyond_the_window_continues_the_timeline(jump: int) -> None:
    import tracemalloc

    buf: ReorderBuffer[str] = ReorderBuffer(depth=3)
    out, _ = feed(buf, list(range(1, 101)))
    tracemalloc.start()
    res = buf.push(100 + jump, "stray")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 64_000  # today a 10^12 gap builds a set of 10^12 numbers
    assert res.status == "discontinuity"
    out += res.released
    assert buf.discontinuities == 1
    # The held frames and the stray come out in order, the stray one step after them.
    assert keys(out) == list(range(1, 102))
    assert out[-1].item == "stray" and all(r.missing_before == 0 for r in out)
    # The peer's counter goes on from its new value; released keys stay contiguous.
    more, statuses = feed(buf, [100 + jump + k for k in range(1, 6)])
    assert statuses == ["ok"] * 5
    assert keys(more) == list(range(102, 107)) and buf.missing == 0


def test_a_single_stray_frame_costs_no_healthy_frame() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(depth=3)
    out, _ = feed(buf, list(range(1, 51)))
    out += buf.push(10**15, "stray").released
    # The healthy counter resumes: a second discontinuity back, and every frame is kept.
    rest, statuses = feed(buf, list(range(51, 101)))
    out += rest + buf.flush()
    items = [r.item for r in out]
    assert [i for i in items if i != "stray"] == [f"f{k}" for k in range(1, 101)]
    assert statuses.count("discontinuity") == 1 and buf.discontinuities == 2
    assert buf.missing == 0 and buf.duplicates == 0


def test_a_restarted_counter_is_not_taken_for_duplicates() -> None:
    # A provider that starts counting again at 1 mid-stream (a reconnect on the same id).
    buf: ReorderBuffer[str] = ReorderBuffer(depth=3)
    out, _ = feed(buf, list(range(1, 501)))
    rest, statuses = feed(buf, list(range(1, 201)))
    out += rest + buf.flush()
    assert statuses[0] == "discontinuity" and statuses.count("discontinuity") == 1
    assert len(out) == 700 and buf.duplicates == 0 and buf.discontinuities == 1
    assert keys(out) == list(range(1, 701))


def test_a_gap_within_the_window_is_still_filled() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(depth=3)
    out, statuses = feed(buf, [*range(1, 11), 10 + 250])
    out += buf.flush()
    assert "discontinuity" not in statuses
    assert out[-1].key == 260 and out[-1].missing_before == 249


def test_shared_counter_step_survives_a_restart() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(depth=3)
    feed(buf, list(range(1, 1200, 2)))  # 1, 3, 5: both tracks share the counter
    assert buf.step == 2
    more, statuses = feed(buf, [7, 9, 11, 13])  # restarted, still counting in twos
    assert statuses == ["discontinuity", "ok", "ok", "ok"]
    assert buf.step == 2 and buf.missing == 0
    assert keys(more)[-4:] == [1201, 1203, 1205, 1207]
