"""The zone and what is answered in it: nameservers, nodes, hostnames, and when checks run."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from habase.configbase import Model as _Model
from habase.hostport import IPAddress, ip_hostport

# 'address[:port]' whose address is an IP literal; a DNS server's port is 53 unless given.
DnsHostPort = Annotated[str, ip_hostport(53)]


class NameServer(_Model):
    name: str
    address: IPAddress | None = None

    @field_validator("name")
    @classmethod
    def _fqdn(cls, value: str) -> str:
        return check_dns_name(value)


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
        return check_dns_name(value)


def check_dns_name(value: str) -> str:
    name = value.strip().rstrip(".").lower()
    if not name:
        raise ValueError("must not be empty")
    for label in name.split("."):
        if not label or len(label) > 63:
            raise ValueError(f"{value!r} is not a valid DNS name (labels of 1 to 63 characters)")
    if len(name) > 253:
        raise ValueError(f"{value!r} is longer than 253 characters")
    return name


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
        return check_dns_name(value)


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
