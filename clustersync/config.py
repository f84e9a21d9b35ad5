"""clustersync's part of config.yaml: the `cluster:` section, and how clustersync reads the file.

The file is the one simplefailover reads; clustersync validates its own section (with file
and line in every error, through habase.loader) and the shared ones it uses (`monitoring`
for its mails, `service` for the config watch), and leaves the other sections to simplefailover.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal, Protocol

from pydantic import ConfigDict, Field, field_validator, model_validator

from habase.configbase import Model as _Model
from habase.configbase import resolve_path as _resolve
from habase.hostport import IPAddress
from habase.loader import parse_model, read_text
from habase.settings import Monitoring, Runtime


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


class Settings(_Model):
    """What clustersync reads from config.yaml; the other sections are simplefailover's."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cluster: Cluster | None = None
    monitoring: Monitoring = Field(default_factory=Monitoring)
    service: Runtime = Field(default_factory=Runtime)
    source: str = Field("<memory>", exclude=True, description="file it was loaded from")


class ClusterConfig(Protocol):
    """The config clustersync's functions take: its Settings, or simplefailover's whole Config."""

    @property
    def cluster(self) -> Cluster | None: ...

    @property
    def monitoring(self) -> Monitoring: ...

    @property
    def service(self) -> Runtime: ...

    @property
    def source(self) -> str: ...


def load_settings(path: str | os.PathLike[str]) -> Settings:
    """Load clustersync's sections of a config file; raise ConfigError listing every problem."""
    text, filename, base_dir = read_text(path)
    return parse_settings(text, filename, base_dir)


def parse_settings(text: str, filename: str = "<memory>", base_dir: Path | None = None) -> Settings:
    """Validate clustersync's sections of YAML text; raise ConfigError with path and line."""
    return parse_model(text, Settings, filename, base_dir)
