"""The peers of the failover bench: gdnsd (http_status + simplefo) and PowerDNS (LUA ifurlup).

Each gets its own folder, config and zone, listens on one loopback address and a high
port, and runs in the foreground as a child process stopped by PID. Both watch the same
two health pages as SimpleFailover: the primary first, the secondary when it is down.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from simplefailover.demo.procs import Child

ZONE = "bench.test"
NAME = f"ias.{ZONE}"
GDNSD = "/usr/sbin/gdnsd"
PDNS = "/usr/sbin/pdns_server"


@dataclass(frozen=True)
class PeerTiming:
    """One peer's health-check settings for a run ("defaults" = the vendor's own)."""

    pdns_interval: int  # lua-health-checks-interval, seconds (default 5)
    pdns_timeout: int  # ifurlup timeout option, whole seconds (default 2)
    gdnsd: dict[str, int]  # http_status service type keys; empty = gdnsd's defaults


DEFAULT_PEERS = PeerTiming(5, 2, {})
FAST_PEERS = PeerTiming(1, 1, {"interval": 2, "timeout": 1, "up_thresh": 1, "ok_thresh": 1, "down_thresh": 1})


def missing() -> list[str]:
    """Peer programs not installed (Debian packages gdnsd, pdns-server, pdns-backend-bind)."""
    return [p for p in (GDNSD, PDNS) if shutil.which(p) is None]


def _zone(ns: str, record: str) -> str:
    return f"$TTL 30\n@ IN SOA ns1 hostmaster 1 7200 1800 259200 900\n@ IN NS ns1\nns1 IN A {ns}\n{record}\n"


def gdnsd(
    folder: Path, address: str, port: int, page_port: int, pages: tuple[str, str], t: PeerTiming
) -> Child:
    """gdnsd with an http_status service type and a simplefo primary/secondary pool."""
    (folder / "zones").mkdir(parents=True, exist_ok=True)
    extra = "".join(f", {key} => {value}" for key, value in t.gdnsd.items())
    (folder / "config").write_text(
        f"options => {{\n  listen => [ {address}:{port} ]\n  run_dir => {folder}/run\n"
        f"  state_dir => {folder}/state\n  tcp_threads => 1\n  udp_threads => 1\n}}\n"
        "service_types => {\n"
        f"  web => {{ plugin => http_status, port => {page_port}, url_path => /{extra} }}\n}}\n"
        "plugins => {\n  simplefo => {\n"
        f"    pool => {{ primary => {pages[0]}, secondary => {pages[1]}, service_types => web }}\n"
        "  }\n}\n"
    )
    (folder / "zones" / ZONE).write_text(_zone(address, "ias 30 DYNA simplefo!pool"))
    return Child("gdnsd", [], folder / "log.txt", folder, command=[GDNSD, "-c", str(folder), "start"])


def pdns(
    folder: Path, address: str, port: int, page_port: int, pages: tuple[str, str], t: PeerTiming
) -> Child:
    """PowerDNS with the bind backend and a LUA A record: ifurlup over two groups, primary first."""
    folder.mkdir(parents=True, exist_ok=True)
    zone_file = folder / f"{ZONE}.zone"
    lua = (
        f"ifurlup('http://{pages[0]}:{page_port}/', {{{{'{pages[0]}'}}, {{'{pages[1]}'}}}}, "
        f"{{timeout={t.pdns_timeout}}})"
    )
    zone_file.write_text(_zone(address, f'ias 30 IN LUA A "{lua}"'))
    (folder / "named.conf").write_text(f'zone "{ZONE}" {{ type master; file "{zone_file}"; }};\n')
    (folder / "pdns.conf").write_text("")
    argv = [
        f"--config-dir={folder}",
        f"--socket-dir={folder}",
        f"--local-address={address}",
        f"--local-port={port}",
        "--launch=bind",
        f"--bind-config={folder / 'named.conf'}",
        "--enable-lua-records=yes",
        f"--lua-health-checks-interval={t.pdns_interval}",
        "--cache-ttl=0",  # no packet cache: the answer is the health checks' latest
        "--query-cache-ttl=0",
        "--negquery-cache-ttl=0",
        "--security-poll-suffix=",  # no DNS lookups outside loopback
        "--guardian=no",
        "--daemon=no",
        "--disable-syslog",
        "--write-pid=no",
    ]
    return Child("pdns", argv, folder / "log.txt", folder, command=[PDNS, *argv])
