"""The one config loader: config.yaml to frozen, validated objects, or every problem at once."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from clustersync.api import Cluster
from habase.configbase import Model as _Model
from habase.configbase import resolve_path as _resolve
from habase.hostport import IPAddress, check_ip_hostport, ip_hostport, is_loopback
from habase.hostport import format_hostport as format_hostport  # importable from here too
from habase.hostport import parse_hostport as parse_hostport
from habase.loader import Problem, describe, parse_model, read_text
from habase.settings import Monitoring, Runtime
from habase.settings import Smtp as Smtp  # the shared settings models, importable from here too
from habase.settings import Webhook as Webhook
from habase.yamlsource import YamlSource

from .pollings import METHOD_TAGS, AnyPolling, Polling
from .pollings import CommandPolling as CommandPolling  # the polling models, importable from here too
from .pollings import DnsPolling as DnsPolling
from .pollings import HttpPolling as HttpPolling
from .pollings import SipPolling as SipPolling
from .pollings import TcpPolling as TcpPolling

# 'address[:port]' whose address is an IP literal, with the default port of each setting.
DnsHostPort = Annotated[str, ip_hostport(53)]
PeerHostPort = Annotated[str, ip_hostport(52710)]


# ---------------------------------------------------------------- zone


class NameServer(_Model):
    name: str
    address: IPAddress | None = None

    @field_validator("name")
    @classmethod
    def _fqdn(cls, value: str) -> str:
        return _check_dns_name(value)


class Soa(_Model):
    mname: str | None = None
    rname: str = "hostmaster"
    refresh: int = Field(3600, ge=1)
    retry: int = Field(600, ge=1)
    expire: int = Field(86400, ge=1)
    minimum: int = Field(30, ge=0)


class Zone(_Model):
    name: str = Field(description="the delegated zone, answered authoritatively")
    ttl: int = Field(30, ge=0, le=86400, description="TTL of failover answers, seconds")
    ko_ttl: int | None = Field(
        None, ge=0, le=86400, description="shorter TTL for a hostname while any of its nodes is KO"
    )
    nameservers: list[NameServer] = Field(
        default_factory=list, description="NS records at the apex; glue is served for in-zone names"
    )
    soa: Soa = Field(default_factory=Soa)
    domain_dns_server: DnsHostPort | None = Field(
        None,
        description="the parent's DNS server (host[:port]); `check` asks it whether the delegation "
        "leads to the nodes",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_dns_name(value)


def _check_dns_name(value: str) -> str:
    name = value.strip().rstrip(".").lower()
    if not name:
        raise ValueError("must not be empty")
    for label in name.split("."):
        if not label or len(label) > 63:
            raise ValueError(f"{value!r} is not a valid DNS name (labels of 1 to 63 characters)")
    if len(name) > 253:
        raise ValueError(f"{value!r} is longer than 253 characters")
    return name


# ---------------------------------------------------------------- nodes and pollings


class Node(_Model):
    """A cluster node that may be answered for a hostname."""

    id: str = Field(min_length=1)
    address: IPAddress
    priority: int = Field(0, description="higher wins; ties go to the node listed first")
    weight: int = Field(
        1, ge=0, le=10000, description="share of the answers for hostnames with policy: weighted (0: never)"
    )
    data_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="the node's clustersync health API, read for hostnames with max_data_lag;"
        " default http://<address>:<cluster.port, else 52700>/status",
    )

    @property
    def url_host(self) -> str:
        """The address as it goes in a URL: IPv6 in brackets."""
        return f"[{self.address}]" if self.address.version == 6 else str(self.address)


class Hostname(_Model):
    name: str = Field(description="label inside the zone, e.g. ias -> ias.<zone>")
    polling: str = Field(description="id of the polling whose results decide this hostname")
    when_all_down: Literal["all", "last", "none"] = Field(
        "all", description="no node OK: answer every node, keep the last answer, or answer none"
    )
    policy: Literal["priority", "all_healthy", "weighted"] = Field(
        "priority",
        description="which OK nodes are answered: the highest-priority one; every one of the highest"
        " priority (answers rotated); or one per query, chosen by nodes[].weight",
    )
    max_data_lag: float | None = Field(
        None,
        gt=0,
        description="seconds: with clustersync on the nodes, an OK node whose data is not ready or lags"
        " the freshest OK node's by more is not chosen while one with fresh data is OK (off when unset)",
    )

    @field_validator("name")
    @classmethod
    def _label(cls, value: str) -> str:
        return _check_dns_name(value)


class Schedule(_Model):
    """When checks run (SPEC SF-2). Between polls an idle connection to each node's polled
    port is watched: when it closes and the port refuses a new one, the node is checked at
    once and `fall` confirmations follow `confirm_interval` apart (docs/architecture.md).
    The default `interval` is 10 s, not the vendor's 30 s: docs/benchmarks.md shows its cost."""

    interval: float = Field(10, gt=0, description="seconds between checks while all is OK")
    retry_interval: float = Field(
        5,
        gt=0,
        description="seconds between checks while failing; a failure a poll found is confirmed "
        "this long after the failed check started",
    )
    confirm_interval: float = Field(
        0.25,
        gt=0,
        le=60,
        description="seconds between the confirmation checks of a failure the watcher saw "
        "(a closed connection); at most retry_interval, which is the default when shorter",
    )
    watch: bool = Field(
        True, description="watch an idle connection to each node's polled port between checks"
    )
    fall: int = Field(2, ge=1, description="consecutive failures that make a check KO")
    rise: int = Field(2, ge=1, description="consecutive successes that make a check OK again")
    jitter: float = Field(0.1, ge=0, le=0.5, description="fraction of the interval")

    @model_validator(mode="after")
    def _confirm(self) -> Schedule:
        if "confirm_interval" not in self.model_fields_set:  # the default never exceeds retry_interval
            object.__setattr__(self, "confirm_interval", min(self.confirm_interval, self.retry_interval))
        elif self.confirm_interval > self.retry_interval:
            raise ValueError(
                f"confirm_interval ({self.confirm_interval:g}) must not exceed "
                f"retry_interval ({self.retry_interval:g})"
            )
        return self


# ---------------------------------------------------------------- services


class DnsUpdate(_Model):
    """Push the answers to an existing DNS server by RFC 2136 dynamic update, signed with TSIG."""

    server: IPAddress = Field(description="address of the primary DNS server that takes the updates")
    port: int = Field(53, ge=1, le=65535)
    zone: str | None = Field(None, description="zone to update; default: zone.name")
    key_name: str = Field(description="TSIG key name, as the server knows it")
    algorithm: Literal[
        "hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"
    ] = Field("hmac-sha256", description="TSIG algorithm")
    secret_env: str | None = Field(None, description="environment variable holding the base64 TSIG secret")
    secret_file: Path | None = Field(None, description="file holding the base64 TSIG secret")
    ttl: int | None = Field(None, ge=0, le=86400, description="TTL of the pushed records; default: zone.ttl")
    hostnames: list[str] | None = Field(
        None, description="names (from hostnames[].name) to push; default: every hostname"
    )
    transport: Literal["tcp", "udp"] = Field("tcp", description="how updates and checks reach the server")
    timeout: float = Field(5, gt=0, le=120, description="seconds to wait for the server")
    verify_interval: float | None = Field(
        None,
        gt=0,
        description="seconds between checks that the server still holds the answers; "
        "default: schedule.interval",
    )
    retry_delay: float = Field(1, gt=0, description="seconds before the first retry; doubles each time")
    retry_max_delay: float = Field(60, gt=0, description="longest wait between retries, seconds")
    alert_after: int = Field(
        1, ge=1, description="failed attempts in a row before the DNS update failure notification"
    )

    _resolve_secret_file = field_validator("secret_file")(_resolve)

    @field_validator("zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else _check_dns_name(value)

    @field_validator("key_name")
    @classmethod
    def _key_name(cls, value: str) -> str:
        return _check_dns_name(value)

    @field_validator("hostnames")
    @classmethod
    def _hostnames(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [_check_dns_name(name) for name in value]

    @model_validator(mode="after")
    def _one_secret(self) -> DnsUpdate:
        if bool(self.secret_env) == bool(self.secret_file):
            raise ValueError("set exactly one of secret_env and secret_file (the base64 TSIG secret)")
        return self

    def secret(self) -> str:
        """Read the base64 TSIG secret at use time; raise OSError/KeyError saying where."""
        if self.secret_env:
            value = os.environ.get(self.secret_env)
            if not value:
                raise KeyError(f"dns.update.secret_env: environment variable {self.secret_env} is not set")
            return value.strip()
        assert self.secret_file is not None
        return self.secret_file.read_text(encoding="ascii").strip()


class Dns(_Model):
    listen: list[str] = Field(default_factory=lambda: ["0.0.0.0:53", "[::]:53"])
    workers: int = Field(1, ge=1, le=64)
    tcp_idle_timeout: float = Field(10, gt=0, le=3600, description="seconds an idle TCP client is kept")
    tcp_max_connections: int = Field(100, ge=1, le=10000, description="TCP clients served at once")
    update: DnsUpdate | None = Field(
        None, description="push the answers to an existing DNS server (RFC 2136); see docs/dns-update.md"
    )

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: list[str]) -> list[str]:
        return [check_ip_hostport(item, 53) for item in value]

    def addresses(self) -> list[tuple[str, int]]:
        """Listen addresses as (host, port)."""
        return [parse_hostport(item, 53) for item in self.listen]


class Dashboard(_Model):
    listen: str = "127.0.0.1:81"
    refresh: int = Field(60, ge=1)
    enabled: bool = True
    admin_password_file: Path | None = Field(
        None,
        description="file with the administrator's password hash (scrypt) and API token hash, written by"
        " `simplefailover admin-password`; without it the dashboard's actions (maintenance, pins, the HA"
        " page) are off",
    )

    _resolve_admin_password_file = field_validator("admin_password_file")(_resolve)

    @field_validator("listen")
    @classmethod
    def _loopback(cls, value: str) -> str:
        host, _ = parse_hostport(value, 81)
        if not is_loopback(host):
            raise ValueError(
                f"{host} is not a loopback address; the dashboard listens on the local host "
                "only (127.0.0.1, [::1] or localhost)"
            )
        return value

    def address(self) -> tuple[str, int]:
        """Listen address as (host, port)."""
        return parse_hostport(self.listen, 81)


class History(_Model):
    """The persisted history: events, audit trail, availability and latency (SF-6)."""

    enabled: bool = Field(True, description="record history on disk (off: only the last events in memory)")
    state_dir: Path | None = Field(
        None,
        description="directory of history.db; default: $STATE_DIRECTORY (systemd), /var/lib/simplefailover"
        " as root, else $XDG_STATE_HOME/simplefailover, in a file named after the config file's path",
    )
    max_age_days: float = Field(
        30, gt=0, le=3650, description="events and hourly figures older than this are deleted"
    )
    max_mb: float = Field(
        100,
        ge=2,
        le=100000,
        description="size limit of the database with its write-ahead log, MB; oldest go first",
    )
    flush_interval: float = Field(
        1, gt=0, le=60, description="seconds between batched writes (the polls only queue, never write)"
    )

    _resolve_state_dir = field_validator("state_dir")(_resolve)


class PeerMember(_Model):
    """One SimpleFailover instance of the cluster, as its peers reach it."""

    id: str = Field(min_length=1, description="the instance's member id")
    address: PeerHostPort = Field(description="host:port where that instance receives peer messages (UDP)")
    role: Literal["node", "witness"] = Field(
        "node",
        description="node: an instance on a cluster node (its id names that node); witness: an instance"
        " on a third host that polls and votes, breaks 1-1 ties, and need not serve DNS",
    )

    def hostport(self) -> tuple[str, int]:
        """The address as (host, port)."""
        return parse_hostport(self.address, 52710)


class Peers(_Model):
    """Agreement between the instances of one cluster (SPEC SF-5); absent: decide alone."""

    id: str | None = Field(
        None, description="this instance's member id; default cluster.node_id, else the host name"
    )
    listen: PeerHostPort = Field(
        "0.0.0.0:52710", description="host:port (UDP) where peer messages are received"
    )
    members: list[PeerMember] = Field(
        default_factory=list, description="every instance of the cluster, this one included"
    )
    secret_file: Path | None = Field(
        None, description="shared secret signing peer messages; default cluster.secret_file"
    )
    heartbeat: float = Field(2, gt=0, le=300, description="seconds between views sent to every peer")
    stale_after: float = Field(
        10, gt=0, le=3600, description="seconds after which a silent peer no longer counts"
    )
    isolation: Literal["keep_last", "publish_own"] = Field(
        "keep_last",
        description="hearing no majority: keep the last agreed answer of a hostname while its node is seen OK"
        " (else answer from the checks heard), or always answer from the checks heard",
    )
    test_fault_nodes: list[str] = Field(
        default_factory=list,
        description="TEST ONLY: this instance's own checks of these node ids always fail",
    )
    test_drop_traffic: bool = Field(False, description="TEST ONLY: drop every peer message sent and received")

    _resolve_secret_file = field_validator("secret_file")(_resolve)

    @model_validator(mode="after")
    def _members(self) -> Peers:
        ids = [m.id for m in self.members]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"members: duplicate id {', '.join(map(repr, duplicates))}")
        if self.id is not None and self.members and self.id not in ids:
            raise ValueError(f"members: this instance's id {self.id!r} is not listed")
        witnesses = [m.id for m in self.members if m.role == "witness"]
        if len(witnesses) > 1:
            raise ValueError(f"members: at most one witness ({', '.join(witnesses)} have role: witness)")
        return self

    def address(self) -> tuple[str, int]:
        """Listen address as (host, port)."""
        return parse_hostport(self.listen, 52710)


# ---------------------------------------------------------------- the whole file


class Config(_Model):
    zone: Zone
    nodes: list[Node] = Field(min_length=1)
    pollings: list[Polling] = Field(min_length=1)
    hostnames: list[Hostname] = Field(min_length=1)
    schedule: Schedule = Field(default_factory=Schedule)
    dns: Dns = Field(default_factory=Dns)
    dashboard: Dashboard = Field(default_factory=Dashboard)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    cluster: Cluster | None = None
    service: Runtime = Field(default_factory=Runtime)
    history: History = Field(default_factory=History)
    peers: Peers | None = Field(
        None, description="other instances to agree with (SF-5); absent: decide alone"
    )
    source: str = Field("<memory>", exclude=True, description="file it was loaded from")

    def polling(self, polling_id: str) -> AnyPolling:
        """Return the polling with that id."""
        for polling in self.pollings:
            if polling.id == polling_id:
                return polling
        raise KeyError(polling_id)

    def node(self, node_id: str) -> Node:
        """Return the node with that id."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def fqdn(self, hostname: Hostname) -> str:
        """The hostname's fully qualified name inside the zone."""
        return f"{hostname.name}.{self.zone.name}"

    def data_urls(self) -> dict[str, str]:
        """Node id -> its clustersync health URL, when some hostname has max_data_lag (else empty)."""
        if all(h.max_data_lag is None for h in self.hostnames):
            return {}
        port = self.cluster.port if self.cluster is not None else 52700
        return {n.id: n.data_url or f"http://{n.url_host}:{port}/status" for n in self.nodes}


# ---------------------------------------------------------------- loading


def load_config(path: str | os.PathLike[str]) -> Config:
    """Load and validate a config file; raise ConfigError listing every problem."""
    text, filename, base_dir = read_text(path)
    return parse_config(text, filename=filename, base_dir=base_dir)


def parse_config(text: str, filename: str = "<memory>", base_dir: Path | None = None) -> Config:
    """Validate YAML text; raise ConfigError listing every problem with path and line."""
    return parse_model(text, Config, filename, base_dir, explain=_describe, cross_checks=_cross_checks)


def _describe(error: Any) -> Problem:
    """habase's describe, with the polling method pydantic puts in the location of pollings[i]."""
    loc = list(error["loc"])
    if error["type"] == "method":  # no known method: the error is about the key itself
        return (*loc, "method"), str(error["msg"])
    if not (len(loc) >= 3 and loc[0] == "pollings" and loc[2] in METHOD_TAGS):
        return describe(error)
    method = loc.pop(2)
    if error["type"] == "missing":
        return tuple(loc), f"required for method {method}"
    return describe(error, tuple(loc))


def _ids(items: Any) -> Iterable[tuple[int, str]]:
    if isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                yield index, item["id"]


def _cross_checks(source: YamlSource) -> list[Problem]:
    """Checks across sections, done on the raw data so they add to schema errors."""
    data = source.data
    found: list[tuple[tuple[str | int, ...], str]] = []
    for section in ("nodes", "pollings"):
        seen: dict[str, int] = {}
        for index, ident in _ids(data.get(section)):
            if ident in seen:
                found.append(
                    ((section, index, "id"), f"duplicate id {ident!r} (also {section}[{seen[ident]}])")
                )
            seen.setdefault(ident, index)
    polling_ids = {ident for _, ident in _ids(data.get("pollings"))}
    hostnames = data.get("hostnames") if isinstance(data.get("pollings"), list) else None
    names: dict[str, int] = {}
    if isinstance(hostnames, list):
        for index, item in enumerate(hostnames):
            if not isinstance(item, dict):
                continue
            ref = item.get("polling")
            if isinstance(ref, str) and ref not in polling_ids:
                known = ", ".join(sorted(polling_ids)) or "none defined"
                found.append((("hostnames", index, "polling"), f"unknown polling {ref!r} (known: {known})"))
            name = item.get("name")
            if isinstance(name, str):
                key = name.lower().rstrip(".")
                if key in names:
                    found.append(
                        (
                            ("hostnames", index, "name"),
                            f"duplicate hostname {name!r} (also hostnames[{names[key]}])",
                        )
                    )
                names.setdefault(key, index)
    found.extend(_update_hostname_checks(data, names))
    found.extend(_peers_checks(data))
    return found


def _peers_checks(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """peers.members must list this instance, and a secret must sign their messages."""
    peers, cluster = data.get("peers"), data.get("cluster")
    members = peers.get("members") if isinstance(peers, dict) else None
    if not isinstance(members, list) or len(members) < 2:
        return []
    assert isinstance(peers, dict)
    cluster = cluster if isinstance(cluster, dict) else {}
    found: list[tuple[tuple[Any, ...], str]] = []
    me = peers.get("id") or cluster.get("node_id") or socket.gethostname()
    ids = {m.get("id") for m in members if isinstance(m, dict)}
    if "id" not in peers and me not in ids:
        message = f"this instance ({me!r}, from cluster.node_id or the host name) is not listed; set peers.id"
        found.append((("peers", "members"), message))
    if not peers.get("secret_file") and not cluster.get("secret_file"):
        found.append(
            (("peers", "secret_file"), "required (or cluster.secret_file) to sign messages between members")
        )
    return found


def _update_hostname_checks(data: dict[str, Any], names: dict[str, int]) -> list[tuple[tuple[Any, ...], str]]:
    """dns.update.hostnames must name hostnames that exist, inside dns.update.zone."""
    dns = data.get("dns")
    update = dns.get("update") if isinstance(dns, dict) else None
    wanted = update.get("hostnames") if isinstance(update, dict) else None
    found: list[tuple[tuple[Any, ...], str]] = []
    zone = data.get("zone")
    zone_name = zone.get("name") if isinstance(zone, dict) else None
    target = update.get("zone") if isinstance(update, dict) else None
    if isinstance(zone_name, str) and isinstance(target, str):
        inner, outer = zone_name.lower().rstrip("."), target.lower().rstrip(".")
        if inner != outer and not inner.endswith("." + outer):
            message = f"the hostnames of zone {inner} are not inside zone {outer}: the server would refuse"
            found.append((("dns", "update", "zone"), message))
    if isinstance(wanted, list) and names:
        for index, name in enumerate(wanted):
            if isinstance(name, str) and name.lower().rstrip(".") not in names:
                known = ", ".join(sorted(names))
                message = f"unknown hostname {name!r} (known: {known})"
                found.append((("dns", "update", "hostnames", index), message))
    return found
