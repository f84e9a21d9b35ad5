"""Failover and failback times of SimpleFailover, PowerDNS and gdnsd, side by side (SPEC SF-2).

Two health pages (`python -m http.server`, one process each, 127.0.21.101 primary and
.102 secondary) are watched by, all at once and in the same run:
- SimpleFailover alone (127.0.21.110) and three SimpleFailover instances agreeing as
  peers (.111-.113; their figure is the time until the last of the three answers),
- PowerDNS 4 with a LUA `ifurlup` record (.120), gdnsd 3 with http_status + simplefo (.121).
Each trial waits until everyone answers the primary, waits a random part of the longest
poll interval, then kills (SIGKILL) or freezes (SIGSTOP) the primary page and queries
every DNS server every 20 ms until it answers the secondary (failover); then restarts
(or SIGCONTs) the page and times the way back (failback). A server still not back at
the cap is restarted so the next trial starts clean; its figure reads "> cap".

Settings: "defaults" are each product's own defaults; "fast" is 1 s checks everywhere
(gdnsd: 2 s, its minimum with a 1 s timeout), fall/thresholds 1.

Run: .venv/bin/python -m bench.failover [--trials 3] [--settings fast,defaults] [--kinds killed,frozen]
Needs the Debian packages gdnsd, pdns-server, pdns-backend-bind (`make bench` installs them).
Everything is on 127.0.21.x and high ports; every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import secrets
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from simplefailover.demo.procs import Child, dns_answer, free_port, listening, stop_all, wait_until

from . import dnspeers

PAGES = ("127.0.21.101", "127.0.21.102")
LONE, PEERS, PDNS, GDNSD = (
    "127.0.21.110",
    ("127.0.21.111", "127.0.21.112", "127.0.21.113"),
    "127.0.21.120",
    "127.0.21.121",
)
PRODUCTS = ("SimpleFailover", "SimpleFailover x3", "PowerDNS", "gdnsd")
SAMPLE_EVERY = 0.02


@dataclass(frozen=True)
class Setting:
    name: str
    schedule: str  # SimpleFailover's schedule section ("" = defaults)
    timeout: str  # SimpleFailover's polling timeout key ("" = default)
    heartbeat: str  # peers keys
    peers: dnspeers.PeerTiming
    phase: float  # longest poll interval: faults land at a random moment of it
    cap: float  # seconds before a trial counts as "> cap"


SETTINGS = {
    "defaults": Setting("defaults", "", "", "", dnspeers.DEFAULT_PEERS, 10, 120),
    "fast": Setting(
        "fast",
        "schedule: {interval: 1, retry_interval: 0.5, fall: 1}\n",
        ", timeout: 0.5",
        "  heartbeat: 0.5\n  stale_after: 2\n",
        dnspeers.FAST_PEERS,
        2,
        30,
    ),
}


class Bench:
    """Every process of one setting, and the DNS servers to sample."""

    def __init__(self, folder: Path, setting: Setting) -> None:
        self.folder, self.setting = folder, setting
        self.page_port = free_port(list(PAGES))
        self.pages = [
            Child(
                f"page {a}",
                ["-m", "http.server", str(self.page_port), "--bind", a],
                folder / f"page{i}.log",
                folder,
            )
            for i, a in enumerate(PAGES)
        ]
        self.dns: dict[str, tuple[str, int]] = {}  # server name -> (host, port)
        self.children: dict[str, Child] = {}
        secret = folder / "secret"
        secret.write_text(secrets.token_hex(32))
        peer_ports = {host: free_port([host], udp=True) for host in PEERS}
        members = "".join(
            f"    - {{id: m{i}, address: '{h}:{peer_ports[h]}'}}\n" for i, h in enumerate(PEERS)
        )
        for name, host in (("solo", LONE), *((f"m{i}", h) for i, h in enumerate(PEERS))):
            port = free_port([host], udp=True)
            peers = ""
            if name != "solo":
                peers = (
                    f"peers:\n  id: {name}\n  listen: '{host}:{peer_ports[host]}'\n  secret_file: {secret}\n"
                    f"{setting.heartbeat}  members:\n{members}"
                )
            self._simplefailover(name, host, port, peers)
        for name, host, make in (("pdns", PDNS, dnspeers.pdns), ("gdnsd", GDNSD, dnspeers.gdnsd)):
            port = free_port([host], udp=True)
            self.dns[name] = (host, port)
            self.children[name] = make(folder / name, host, port, self.page_port, PAGES, setting.peers)

    def _simplefailover(self, name: str, host: str, port: int, peers: str) -> None:
        sub = self.folder / name
        sub.mkdir()
        (sub / "config.yaml").write_text(
            f"zone: {{name: {dnspeers.ZONE}}}\n"
            f"nodes: [{{id: primary, address: {PAGES[0]}, priority: 10}},\n"
            f"        {{id: secondary, address: {PAGES[1]}}}]\n"
            f'pollings: [{{id: web, method: http, url: "http://{{address}}:{self.page_port}/"{self.setting.timeout}}}]\n'
            "hostnames: [{name: ias, polling: web}]\n"
            f"{self.setting.schedule}"
            f"dns: {{listen: ['{host}:{port}']}}\n"
            "dashboard: {enabled: false}\n"
            "monitoring: {notifications: false}\n"
            f"service: {{pid_file: {sub / 'pid'}, watch_config: 0}}\n"
            f"{peers}"
        )
        self.dns[name] = (host, port)
        argv = ["-m", "simplefailover", "run", "-c", str(sub / "config.yaml")]
        self.children[name] = Child(name, argv, sub / "log.txt", sub)

    def start(self) -> None:
        for page in self.pages:
            page.start()
        for page, address in zip(self.pages, PAGES, strict=True):
            wait_until(lambda a=address: listening(a, self.page_port), 10, f"page on {address}", page)
        for child in self.children.values():
            child.start()
        self.everyone_answers(PAGES[0], 90)

    def stop(self) -> None:
        stop_all([*self.children.values(), *self.pages])

    def answer(self, name: str) -> tuple[str, ...] | None:
        host, port = self.dns[name]
        return dns_answer(host, port, dnspeers.NAME, timeout=0.3)

    def everyone_answers(self, address: str, seconds: float) -> None:
        for name, child in self.children.items():
            wait_until(
                lambda n=name: self.answer(n) == (address,), seconds, f"{name} answering {address}", child
            )

    def restart(self, name: str) -> None:
        child = self.children[name]
        stop_all([child])
        child.start()

    def time_until(self, address: str, start: float, cap: float) -> dict[str, float | None]:
        """Seconds from start until each server first answers address (None past the cap)."""
        seen: dict[str, float | None] = {}
        while len(seen) < len(self.dns) and time.monotonic() - start < cap:
            for name in self.dns:
                if name not in seen and self.answer(name) == (address,):
                    seen[name] = time.monotonic() - start
            time.sleep(SAMPLE_EVERY)
        return {name: seen.get(name) for name in self.dns}


def by_product(times: dict[str, float | None]) -> dict[str, float | None]:
    """Per product: the lone instance, the last of the three agreeing, PowerDNS, gdnsd."""
    three = [times[f"m{i}"] for i in range(3)]
    last = None if None in three else max(t for t in three if t is not None)
    return dict(zip(PRODUCTS, (times["solo"], last, times["pdns"], times["gdnsd"]), strict=True))


FAULTS: dict[str, tuple[Callable[[Child], None], Callable[[Child], None]]] = {
    "killed": (lambda page: page.kill(), lambda page: page.start()),
    "frozen": (lambda page: page.signal(signal.SIGSTOP), lambda page: page.signal(signal.SIGCONT)),
}

Figures = dict[tuple[str, str, str], dict[str, list[float | None]]]  # (setting, kind, way) -> product -> s


def run_setting(setting: Setting, kinds: list[str], trials: int, figures: Figures) -> None:
    with tempfile.TemporaryDirectory(prefix="sf21-") as folder:
        bench = Bench(Path(folder), setting)
        try:
            bench.start()
            primary = bench.pages[0]
            for kind in kinds:
                fault, heal = FAULTS[kind]
                for trial in range(trials):
                    time.sleep(random.uniform(0, setting.phase))  # any moment of the poll cycle
                    start = time.monotonic()
                    fault(primary)
                    out = by_product(bench.time_until(PAGES[1], start, setting.cap))
                    heal(primary)
                    start = time.monotonic()
                    back_times = bench.time_until(PAGES[0], start, setting.cap)
                    back = by_product(back_times)
                    for name, seconds in back_times.items():
                        if seconds is None:  # not back by the cap: start it afresh for the next trial
                            bench.restart(name)
                    bench.everyone_answers(PAGES[0], 120)
                    for way, got in (("failover", out), ("failback", back)):
                        for product, seconds in got.items():
                            figures.setdefault((setting.name, kind, way), {}).setdefault(product, []).append(
                                seconds
                            )
                    print(
                        f"  {setting.name} {kind} trial {trial + 1}: "
                        + ", ".join(
                            f"{p} {_fmt(out[p], setting.cap)}/{_fmt(back[p], setting.cap)}" for p in PRODUCTS
                        ),
                        flush=True,
                    )
        finally:
            bench.stop()


def _fmt(seconds: float | None, cap: float) -> str:
    return f"> {cap:g} s" if seconds is None else f"{seconds:.2f} s"


def median(values: list[float | None], cap: float) -> str:
    """The median, counting a trial past the cap as longer than any other."""
    ordered = sorted(values, key=lambda v: float("inf") if v is None else v)
    if not ordered:
        return "-"
    middle = ordered[(len(ordered) - 1) // 2] if len(ordered) % 2 else None
    if len(ordered) % 2 == 0:
        a, b = ordered[len(ordered) // 2 - 1], ordered[len(ordered) // 2]
        middle = None if a is None or b is None else (a + b) / 2
    return _fmt(middle, cap)


def table(figures: Figures, settings: list[Setting], kinds: list[str]) -> str:
    columns = [(s, k, w) for s in settings for k in kinds for w in ("failover", "failback")]
    head = "| | " + " | ".join(f"{s.name}, {k}, {w}" for s, k, w in columns) + " |"
    lines = [head, "|---" * (len(columns) + 1) + "|"]
    for product in PRODUCTS:
        cells = [median(figures.get((s.name, k, w), {}).get(product, []), s.cap) for s, k, w in columns]
        lines.append(f"| {product} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--settings", default="fast,defaults")
    parser.add_argument("--kinds", default="killed,frozen")
    args = parser.parse_args(argv)
    if dnspeers.missing():
        raise SystemExit(
            f"missing {', '.join(dnspeers.missing())}: apt-get install gdnsd pdns-server pdns-backend-bind"
        )
    settings = [SETTINGS[name] for name in args.settings.split(",")]
    kinds = args.kinds.split(",")
    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()};",
        f"{args.trials} trials each",
    )
    figures: Figures = {}
    for setting in settings:
        run_setting(setting, kinds, args.trials, figures)
    print(
        f"\nmedian of {args.trials} (failover: primary page down -> answer is the secondary; "
        "failback: page back -> answer is the primary)"
    )
    print(table(figures, settings, kinds))


if __name__ == "__main__":
    main()
