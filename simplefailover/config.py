"""The one config loader: config.yaml to frozen, validated objects, or every problem at once."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .configbase import Model as _Model
from .configbase import resolve_path as _resolve
from .errors import ConfigError
from .monitoring import Monitoring
from .monitoring import Smtp as Smtp  # the monitoring models, importable from here too
from .monitoring import Webhook as Webhook
from .pollings import METHOD_TAGS, AnyPolling, Polling
from .pollings import CommandPolling as CommandPolling  # the polling models, importable from here too
from .pollings import DnsPolling as DnsPolling
from .pollings import HttpPolling as HttpPolling
from .pollings import SipPolling as SipPolling
from .pollings import TcpPolling as TcpPolling
from .yamlsource import YamlSource, format_path, load_yaml


def _to_ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value
    try:
        return ipaddress.ip_address(str(value).strip())
    except ValueError:
        raise ValueError("value is not a valid IPv4 or IPv6 address") from None


IPAddress = Annotated[
    ipaddress.IPv4Address | ipaddress.IPv6Address,
    PlainValidator(_to_ip),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "format": "ip-address"}),
]


def parse_hostport(text: str, default_port: int | None = None) -> tuple[str, int]:
    """Split 'host:port' or '[v6]:port' into (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise ValueError(f"{text!r}: missing ']' after IPv6 address")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError(f"{text!r}: expected ':port' after ']'")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    elif text.count(":") > 1:
        raise ValueError(f"{text!r}: put an IPv6 address in brackets, as [::1]:53")
    else:
        host, port_text = text, ""
    if not port_text:
        if default_port is None:
            raise ValueError(f"{text!r}: missing port")
        return host, default_port
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: port must be a number from 0 to 65535")
    return host, int(port_text)


def format_hostport(host: str, port: int) -> str:
    """Join (host, port) as 'host:port', an IPv6 host in brackets: parse_hostport's inverse."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    domain_dns_server: str | None = Field(
        None,
        description="the parent's DNS server (host[:port]); `check` asks it whether the delegation "
        "leads to the nodes",
    )

    @field_validator("domain_dns_server")
    @classmethod
    def _server(cls, value: str | None) -> str | None:
        if value is not None:
            host, _ = parse_hostport(value, 53)
            _to_ip(host)
        return value

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
        for item in value:
            host, _ = parse_hostport(item, 53)
            ipaddress.ip_address(host)
        return value

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
        if not _is_loopback(host):
            raise ValueError(
                f"{host} is not a loopback address; the dashboard listens on the local host "
                "only (127.0.0.1, [::1] or localhost)"
            )
        return value

    def address(self) -> tuple[str, int]:
        """Listen address as (host, port)."""
        return parse_hostport(self.listen, 81)


class Tables(_Model):
    replicated: list[str] = Field(default_factory=list)
    history: list[str] = Field(default_factory=list)


class JoinHooks(_Model):
    """Commands run around `clustersync join` (e.g. stop, then restart, the node's applications)."""

    before: str | None = Field(None, description="shell command run before the join; a failure stops it")
    after: str | None = Field(None, description="shell command run after the join, whether it worked or not")
    timeout: float = Field(300, gt=0, description="seconds each hook may take")


class Cluster(_Model):
    node_id: str = Field(default_factory=socket.gethostname, min_length=1)
    address: IPAddress | None = None
    port: int = Field(52700, ge=1, le=65535)
    secret_file: Path | None = None
    strategy: Literal["replicated", "shared"] = "replicated"
    database: Path | None = None
    dsn: str | None = None
    tables: Tables = Field(default_factory=Tables)
    state_dir: Path = Path("/var/lib/clustersync")
    sync_interval: float = Field(5, gt=0)
    retry_interval: float = Field(30, gt=0)
    max_clock_offset: float = Field(15, gt=0)
    data_port: int | None = Field(
        None, ge=1, le=65535, description="TCP port of data sync (production: above 52700); default port + 1"
    )
    timeout: float = Field(5, gt=0, le=300, description="seconds to wait for a peer before trying the next")
    batch_rows: int = Field(
        2000,
        ge=1,
        le=100000,
        description="changes sent per batch (one transaction; also cut at about 4 MiB of rows)",
    )
    max_message: int = Field(
        16 * 1024 * 1024,
        ge=65536,
        description="largest sync frame accepted, bytes (larger are refused unread); "
        "a larger message, such as a big row, is sent in frames of up to 1 MiB",
    )
    gc_interval: float = Field(
        300, gt=0, description="seconds between removals of tombstones every member already has"
    )
    test_clock_offset: float = Field(
        0, description="TEST ONLY: seconds added to this node's clock, to test time alignment"
    )
    join_hooks: JoinHooks = Field(default_factory=JoinHooks)
    join_chunk: int = Field(
        8 * 1024 * 1024, ge=65536, le=256 * 1024 * 1024, description="bytes per checksummed join chunk"
    )
    join_retries: int = Field(
        5, ge=0, le=1000, description="reconnections after a dropped join stream, within one join command"
    )
    join_keep: float = Field(
        3600, gt=0, description="seconds a member keeps a join snapshot so an interrupted join can resume"
    )
    test_join_drop_after: int = Field(
        0, ge=0, description="TEST ONLY: a member drops each join stream after sending this many bytes"
    )
    test_join_corrupt_chunk: int = Field(
        -1, description="TEST ONLY: a member alters this chunk number once, to test chunk checksums"
    )
    test_free_disk: int | None = Field(
        None, ge=0, description="TEST ONLY: free bytes the join disk check sees instead of the real figure"
    )
    test_version: str | None = Field(
        None, description="TEST ONLY: the clustersync version this node claims (to test version mismatch)"
    )

    _resolve_paths = field_validator("secret_file", "database", "state_dir")(_resolve)

    def sync_port(self) -> int:
        """The data sync port: data_port, else port + 1."""
        return self.data_port if self.data_port is not None else self.port + 1

    def secret_path(self) -> Path:
        """Where the cluster secret is: secret_file, else state_dir/cluster.secret."""
        return self.secret_file if self.secret_file is not None else self.state_dir / "cluster.secret"

    @model_validator(mode="after")
    def _strategy_needs(self) -> Cluster:
        if self.strategy == "shared" and not self.dsn:
            raise ValueError("dsn: required for strategy shared")
        return self


class Runtime(_Model):
    pid_file: Path | None = Field(
        None, description="where `run` writes its pid for `reload`; default derived from the config path"
    )
    watch_config: float = Field(
        2,
        ge=0,
        le=3600,
        description="seconds between looks at the config file; a saved change reloads it as SIGHUP does"
        " (0: only on SIGHUP or `simplefailover reload`)",
    )

    _resolve_pid_file = field_validator("pid_file")(_resolve)


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
    address: str = Field(description="host:port where that instance receives peer messages (UDP)")
    role: Literal["node", "witness"] = Field(
        "node",
        description="node: an instance on a cluster node (its id names that node); witness: an instance"
        " on a third host that polls and votes, breaks 1-1 ties, and need not serve DNS",
    )

    @field_validator("address")
    @classmethod
    def _hostport(cls, value: str) -> str:
        host, _ = parse_hostport(value, 52710)
        ipaddress.ip_address(host)
        return value

    def hostport(self) -> tuple[str, int]:
        """The address as (host, port)."""
        return parse_hostport(self.address, 52710)


class Peers(_Model):
    """Agreement between the instances of one cluster (SPEC SF-5); absent: decide alone."""

    id: str | None = Field(
        None, description="this instance's member id; default cluster.node_id, else the host name"
    )
    listen: str = Field("0.0.0.0:52710", description="host:port (UDP) where peer messages are received")
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

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, _ = parse_hostport(value, 52710)
        ipaddress.ip_address(host)
        return value

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
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{file}: cannot read: {exc.strerror or exc}"]) from exc
    return parse_config(text, filename=str(file), base_dir=file.resolve().parent)


def parse_config(text: str, filename: str = "<memory>", base_dir: Path | None = None) -> Config:
    """Validate YAML text; raise ConfigError listing every problem with path and line."""
    where = Path(filename).name
    try:
        source = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"not valid YAML: {problem} ({where}{line})"]) from exc
    if not isinstance(source.data, dict):
        raise ConfigError([f"(top level): expected a mapping of sections ({where}, line 1)"])

    problems: list[tuple[int, str]] = []

    def add(path: tuple[str | int, ...], message: str) -> None:
        line = source.line_of(path)
        suffix = f"{where}, line {line}" if line else where
        problems.append((line or 0, f"{format_path(path)}: {message} ({suffix})"))

    for path, _, message in source.problems:
        add(path, message)
    config: Config | None = None
    try:
        config = Config.model_validate({**source.data, "source": filename}, context={"base_dir": base_dir})
    except ValidationError as exc:
        for error in exc.errors():
            path, message = _describe(error)
            add(path, message)
    for path, message in _cross_checks(source):
        add(path, message)
    if problems or config is None:
        problems.sort(key=lambda item: item[0])
        raise ConfigError([message for _, message in dict.fromkeys(problems)])
    return config


def _describe(error: Any) -> tuple[tuple[str | int, ...], str]:
    """Turn one pydantic error into (path, message a person can act on)."""
    loc = list(error["loc"])
    method = None
    # Drop the union tag pydantic puts in the location of pollings[i].
    if len(loc) >= 3 and loc[0] == "pollings" and loc[2] in METHOD_TAGS:
        method = loc.pop(2)
    path = tuple(loc)
    kind = error["type"]
    if kind == "method":
        return (*path, "method"), str(error["msg"])
    if kind == "missing":
        return path, f"required for method {method}" if method else "required"
    if kind == "extra_forbidden":
        return path, "unknown key"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    if message.startswith("dsn: "):
        return (*path, "dsn"), message[5:]
    if message.startswith("members: "):
        return (*path, "members"), message[9:]
    return path, message


def _ids(items: Any) -> Iterable[tuple[int, str]]:
    if isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                yield index, item["id"]


def _cross_checks(source: YamlSource) -> list[tuple[tuple[str | int, ...], str]]:
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
