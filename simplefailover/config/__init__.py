"""The one config loader: config.yaml to frozen, validated objects, or every problem at once.

The sections are in zone.py, services.py, peers.py and pollings.py, the shared
`monitoring` and `service` sections in habase.settings and the `cluster` section in clustersync
(reached through clustersync.api); checks across sections in checks.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field

from clustersync.api import Cluster
from habase.configbase import Model as _Model
from habase.hostport import format_hostport as format_hostport  # importable from here too
from habase.hostport import parse_hostport as parse_hostport
from habase.loader import Problem, describe, parse_model, read_text
from habase.settings import Monitoring as Monitoring  # the shared settings models, importable from here too
from habase.settings import Runtime as Runtime
from habase.settings import Smtp as Smtp
from habase.settings import Webhook as Webhook

from .checks import cross_checks
from .peers import PeerMember as PeerMember
from .peers import Peers as Peers
from .pollings import METHOD_TAGS, AnyPolling, Polling
from .pollings import CommandPolling as CommandPolling
from .pollings import DnsPolling as DnsPolling
from .pollings import HttpPolling as HttpPolling
from .pollings import SipPolling as SipPolling
from .pollings import TcpPolling as TcpPolling
from .services import Dashboard as Dashboard
from .services import Dns as Dns
from .services import DnsUpdate as DnsUpdate
from .services import History as History
from .zone import Hostname as Hostname
from .zone import NameServer as NameServer
from .zone import Node as Node
from .zone import Schedule as Schedule
from .zone import Soa as Soa
from .zone import Zone as Zone

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
    return parse_model(text, Config, filename, base_dir, explain=_describe, cross_checks=cross_checks)


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
