"""What the peers section means once defaults are applied: who am I, who are the others."""

from __future__ import annotations

import socket
from pathlib import Path

from ..config import Config, Peers
from ..errors import ConfigError


def peers_of(config: Config) -> Peers | None:
    """The peers section when it names other instances; None when this instance decides alone."""
    peers = config.peers
    if peers is None or len(peers.members) < 2:
        return None
    return peers


def self_id(config: Config) -> str:
    """This instance's member id: peers.id, else cluster.node_id, else the host name."""
    if config.peers is not None and config.peers.id:
        return config.peers.id
    if config.cluster is not None:
        return config.cluster.node_id
    return socket.gethostname()


def secret_path(config: Config) -> Path | None:
    """The file of the secret that signs peer messages: peers.secret_file, else cluster.secret_file."""
    if config.peers is not None and config.peers.secret_file is not None:
        return config.peers.secret_file
    return config.cluster.secret_file if config.cluster is not None else None


def check(config: Config) -> list[str]:
    """Problems that make the peers section unusable, each naming its key."""
    peers = peers_of(config)
    if peers is None:
        return []
    problems = []
    me = self_id(config)
    if me not in {m.id for m in peers.members}:
        problems.append(
            f"peers.members: this instance ({me!r}, from peers.id, cluster.node_id or the host name) "
            f"is not listed ({config.source})"
        )
    if secret_path(config) is None:
        problems.append(
            f"peers.secret_file: required (or cluster.secret_file) with members ({config.source})"
        )
    return problems


def read_secret(config: Config) -> bytes:
    """Read the shared secret; raise ConfigError saying which file and why."""
    path = secret_path(config)
    if path is None:
        raise ConfigError(["peers.secret_file: required (or cluster.secret_file) with members"])
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError([f"peers.secret_file: cannot read {path}: {exc.strerror or exc}"]) from exc
    if len(secret) < 16:
        raise ConfigError([f"peers.secret_file: {path} holds fewer than 16 bytes; use a long random secret"])
    return secret
