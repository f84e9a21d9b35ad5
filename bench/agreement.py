"""Time from a node's death until every instance answers the new address (SPEC SF-5).

Three real `simplefailover run` processes agree over their peer channel (127.0.0.90-92);
a fourth process with no peers (the pre-SF-5 behaviour) watches the same demo nodes in the
same run, so the cost of agreeing shows as a ratio. Each trial waits until everyone answers
node n1, kills n1 at a random moment of the poll cycle, and polls every instance's DNS
every 20 ms until it answers n2. Then n1 comes back for the next trial.

Run: .venv/bin/python -m bench.agreement [--trials 3] [--fast-trials 8] [--skip-default]
Everything is on 127.0.0.90-95; every wait is bounded.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from tests.simplefailover.peers.cluster import Cluster, Instance, wait_for

POLL_EVERY = 0.02


def first_time_answering(
    instances: list[Instance], address: str, start: float, timeout: float
) -> dict[str, float]:
    """Seconds from start until each instance first answers address over DNS."""
    seen: dict[str, float] = {}
    deadline = start + timeout
    while len(seen) < len(instances) and time.monotonic() < deadline:
        for instance in instances:
            if instance.member not in seen and instance.answer()[0] == (address,):
                seen[instance.member] = time.monotonic() - start
        time.sleep(POLL_EVERY)
    missing = [i.member for i in instances if i.member not in seen]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} did not answer {address} within {timeout} s")
    return seen


def run(label: str, trials: int, **settings: float) -> list[tuple[float, float]]:
    """Run trials with these schedule/peer settings; return (all three, alone) seconds per trial."""
    results: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as folder:
        cluster = Cluster(Path(folder), solo=True, **settings)  # type: ignore[arg-type]
        try:
            cluster.start()
            n1, n2 = cluster.nodes[0], cluster.nodes[1]
            addr1, addr2 = str(n1.node.address), str(n2.node.address)
            everyone = cluster.everyone
            budget = 3 * cluster.interval + 10 * cluster.retry_interval + 30
            for trial in range(trials):
                wait_for(
                    "everyone answering n1", lambda: all(i.answer()[0] == (addr1,) for i in everyone), budget
                )
                time.sleep(random.uniform(0, cluster.interval))  # die at any moment of the poll cycle
                n1.stop()
                start = time.monotonic()
                seen = first_time_answering(everyone, addr2, start, budget)
                together = max(seen[i.member] for i in cluster.instances)
                alone = seen["solo"]
                serials = {i.answer()[1] for i in cluster.instances}
                results.append((together, alone))
                print(
                    f"{label} trial {trial + 1}: all three {together:6.2f} s "
                    f"(a {seen['a']:.2f}, b {seen['b']:.2f}, c {seen['c']:.2f}), alone {alone:6.2f} s, "
                    f"serials {'equal' if len(serials) == 1 else sorted(serials)}",
                    flush=True,
                )
                n1.start()
        finally:
            cluster.stop()
    return results


def summary(label: str, results: list[tuple[float, float]]) -> None:
    """Print median and max for the three instances and for the lone one."""
    together = [t for t, _ in results]
    alone = [a for _, a in results]
    ratios = [t / a for t, a in results if a > 0]
    print(
        f"{label}: all three median {statistics.median(together):.2f} s, max {max(together):.2f} s; "
        f"alone median {statistics.median(alone):.2f} s, max {max(alone):.2f} s; "
        f"ratio all/alone median {statistics.median(ratios):.2f} ({len(results)} trials)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3, help="trials with the default settings")
    parser.add_argument("--fast-trials", type=int, default=8, help="trials with 1 s intervals")
    parser.add_argument("--skip-default", action="store_true", help="only the 1 s intervals")
    args = parser.parse_args()
    fast = run(
        "1 s intervals",
        args.fast_trials,
        interval=1,
        retry_interval=1,
        heartbeat=1,
        stale_after=5,
        fall=2,
        rise=2,
    )
    default = (
        []
        if args.skip_default
        else run(
            "defaults",
            args.trials,
            interval=30,
            retry_interval=5,
            heartbeat=2,
            stale_after=10,
            fall=2,
            rise=2,
        )
    )
    print()
    summary("1 s intervals (interval 1, retry 1, fall 2, heartbeat 1)", fast)
    if default:
        summary("defaults (interval 30, retry 5, fall 2, heartbeat 2)", default)


if __name__ == "__main__":
    main()
