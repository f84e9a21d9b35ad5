"""The judges of a chaos run: DNS samples against the fault timeline, replicated data."""

from __future__ import annotations

from simplefailover.chaos.verdict import Sample, Span, judge_data, judge_dns

ADDRESSES = {"n1": "127.0.0.1", "n2": "127.0.0.2"}
N1, N2 = ("127.0.0.1",), ("127.0.0.2",)


def samples(instance: str, answers: list[tuple[float, tuple[str, ...] | None]]) -> list[Sample]:
    return [Sample(t, instance, a) for t, a in answers]


def test_a_name_that_moves_within_the_bound_passes_and_is_timed() -> None:
    down = [Span("n1", "app kill -9", 10.0, 20.0)]
    seen = samples("a", [(9.0, N1), (11.0, N1), (13.0, N1), (14.0, N2), (19.0, N2), (21.0, N1)])
    seen += samples("b", [(12.0, N1), (12.5, N2), (15.0, N2)])
    verdict = judge_dns(seen, down, [], ADDRESSES, bound=5.0)
    assert verdict.violations == []
    assert verdict.detections == [(down[0], 4.0)]  # a moved at 14.0, 4 s after the kill
    assert verdict.worst == (down[0], 4.0)


def test_pointing_at_a_node_down_longer_than_the_bound_is_a_violation() -> None:
    down = [Span("n1", "app SIGSTOP", 10.0, 20.0)]
    seen = samples("a", [(12.0, N1), (16.0, N1), (17.0, N2)])
    verdict = judge_dns(seen, down, [], ADDRESSES, bound=5.0)
    assert len(verdict.violations) == 1
    assert "a answered n1 (127.0.0.1) 6.0 s after its app SIGSTOP" in verdict.violations[0]


def test_an_instance_that_was_itself_stopped_gets_the_bound_from_when_it_runs_again() -> None:
    down = [Span("n1", "app kill -9", 10.0, 30.0)]
    frozen = [Span("a", "simplefailover SIGSTOP", 8.0, 18.0)]
    seen = samples("a", [(19.0, N1), (22.0, N1), (23.0, N2)])  # 4 s after it was continued at 18
    assert judge_dns(seen, down, frozen, ADDRESSES, bound=5.0).violations == []
    late = samples("a", [(24.0, N1)])  # 6 s after it was continued
    assert len(judge_dns(late, down, frozen, ADDRESSES, bound=5.0).violations) == 1


def test_detection_is_timed_on_the_instances_that_ran_throughout() -> None:
    down = [Span("n1", "app kill -9", 10.0, 20.0)]
    frozen = [Span("b", "simplefailover kill -9", 5.0, 18.0)]
    seen = samples("a", [(11.0, N1), (13.0, N2), (19.0, N2)]) + samples("b", [(19.5, N1)])  # b: stale
    verdict = judge_dns(seen, down, frozen, ADDRESSES, bound=5.0)
    assert verdict.violations == [] and verdict.detections == [(down[0], 3.0)]


def test_a_fault_healed_before_anyone_moved_is_not_a_detection() -> None:
    down = [Span("n1", "app kill -9", 10.0, 12.0)]
    seen = samples("a", [(10.5, N1), (11.5, N1), (12.5, N1)]) + samples("b", [(11.0, None)])
    verdict = judge_dns(seen, down, [], ADDRESSES, bound=5.0)
    assert verdict.violations == [] and verdict.detections == [(down[0], None)] and verdict.worst is None


def test_data_judge_names_missing_writes_and_differing_nodes() -> None:
    row1, row2 = ("n1-1", "a", "", 1.0), ("n2-1", "b", "", 2.0)
    assert judge_data({"n1-1": "n1", "n2-1": "n2"}, {"n1": [row1, row2], "n2": [row1, row2]}) == []
    problems = judge_data({"n1-1": "n1", "n2-1": "n2"}, {"n1": [row1, row2], "n2": [row1]})
    assert problems == [
        "n2: 1 acknowledged writes missing (e.g. ['n2-1'])",
        "n2 differs from n1: 0 rows only on n2, 1 only on n1",
    ]
    # same ids, different content: not identical
    assert judge_data({}, {"n1": [row1], "n2": [("n1-1", "a", "", 9.0)]}) == [
        "n2 differs from n1: 1 rows only on n2, 1 only on n1"
    ]


def test_silent_samples_are_split_by_whether_that_instance_was_down() -> None:
    from simplefailover.chaos.verdict import Sample, Span, silent

    gaps = [Span("node2", "simplefailover kill -9", 10.0, 14.0)]
    samples = [
        Sample(11.0, "node2", None),  # killed
        Sample(15.0, "node2", None),  # restarting: within the allowance
        Sample(30.0, "node2", None),  # running, yet silent
        Sample(11.0, "node1", None),  # another instance: its own gaps only
        Sample(12.0, "node1", ("127.0.0.1",)),  # answered: not counted
    ]
    assert silent(samples, gaps, restart=3.0) == (2, 2)


def test_an_all_down_answer_names_no_node_in_particular() -> None:
    """Seed 20: node2 alone on its side of a partition, its app killed, sees every node KO
    and answers every node (when_all_down: all); that is the configured last resort, not an
    answer naming the dead node, and it counts as having moved away from it."""
    down = [Span("n2", "app kill -9", 10.0, 25.0)]
    everyone = ("127.0.0.1", "127.0.0.2")
    seen = samples("b", [(11.0, N2), (13.0, everyone), (17.0, everyone), (24.0, everyone)])
    verdict = judge_dns(seen, down, [], ADDRESSES, bound=5.0)
    assert verdict.violations == [] and verdict.detections == [(down[0], 3.0)]
    stuck = samples("b", [(11.0, N2), (16.0, N2), (17.0, everyone)])  # named alone past the bound
    assert len(judge_dns(stuck, down, [], ADDRESSES, bound=5.0).violations) == 1
