"""The `peers` section: the SimpleFailover instances of one cluster that agree on the answers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from habase.configbase import Model as _Model
from habase.configbase import resolve_path as _resolve
from habase.hostport import ip_hostport, parse_hostport

# 'address[:port]' whose address is an IP literal; peer messages go to port 52710 unless given.
PeerHostPort = Annotated[str, ip_hostport(52710)]


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
