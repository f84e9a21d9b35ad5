"""install-service and service: files written where told, a unit systemd accepts, no network needed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from simplefailover.config import load_config

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
MINE = """
zone: {name: mine.example}
nodes: [{id: a, address: 127.0.16.1}]
pollings: [{id: p, method: tcp, port: 9}]
hostnames: [{name: h, polling: p}]
"""


def cli(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "simplefailover", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def install(tmp_path: Path, *extra: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return cli(
        "install-service",
        "--zone-name",
        "imagicle.example.com",
        "--hostname",
        "ias",
        "--domain-dns-server",
        "127.0.0.1",
        "-c",
        str(tmp_path / "etc" / "config.yaml"),
        "--unit-dir",
        str(tmp_path / "units"),
        "--python",
        sys.executable,
        *extra,
        prefix=prefix,
    )


def verify(unit: Path) -> list[str]:
    """systemd-analyze verify's complaints about this unit (it exits 0 on mere warnings)."""
    assert SYSTEMD_ANALYZE is not None
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    lines = (result.stdout + result.stderr).splitlines()
    problems = [line for line in lines if unit.name in line or str(unit) in line]
    return problems + ([f"exit code {result.returncode}"] if result.returncode else [])


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed (make system-deps)")
def test_generated_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    result = install(tmp_path, "--node", "node1=127.0.0.11,10", "--node", "node2=::1")
    assert result.returncode == 0, result.stderr
    unit = tmp_path / "units" / "simplefailover.service"
    assert verify(unit) == []
    text = unit.read_text()
    config = (tmp_path / "etc" / "config.yaml").resolve()
    for line in (
        f"ExecStart={sys.executable} -m simplefailover run -c {config}",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "RuntimeDirectory=simplefailover",
        "WantedBy=multi-user.target",
    ):
        assert line in text.splitlines()
    # Without a cluster: section it writes its pid file alone, in its RuntimeDirectory: nothing more.
    assert not any(line.startswith("ReadWritePaths=") for line in text.splitlines())
    assert not (tmp_path / "units" / "clustersync.service").exists()
    # The check can fail: a unit with a typo and a bad value is reported.
    broken = tmp_path / "units" / "broken.service"
    broken.write_text(
        text.replace("ProtectSystem=strict", "ProtectSystem=bogus").replace("Restart=", "Restrat=")
    )
    assert len(verify(broken)) == 2


def test_report_says_what_was_done_and_how_to_undo_it(tmp_path: Path) -> None:
    result = install(tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"wrote {tmp_path / 'etc' / 'config.yaml'}" in out
    assert f"wrote {tmp_path / 'units' / 'simplefailover.service'}" in out
    assert "did not enable or start them (systemd is not running here)" in out
    assert "clustersync.service not installed" in out
    undo = out.split("Undo:")[1].split()
    assert "rm" in undo and str(tmp_path / "units" / "simplefailover.service") in undo
    assert f"uninstall-service -c {tmp_path / 'etc' / 'config.yaml'}" in out


def test_written_config_is_valid_and_uses_the_arguments(tmp_path: Path) -> None:
    result = install(
        tmp_path, "--node", "a=192.0.2.1,20", "--node", "b=2001:db8::2", "--recipient", "ops@x.test"
    )
    assert result.returncode == 0, result.stderr
    config = load_config(tmp_path / "etc" / "config.yaml")
    assert config.zone.name == "imagicle.example.com"
    assert [h.name for h in config.hostnames] == ["ias"]
    assert [(n.id, str(n.address), n.priority) for n in config.nodes] == [
        ("a", "192.0.2.1", 20),
        ("b", "2001:db8::2", 5),
    ]
    assert [str(ns.address) for ns in config.zone.nameservers] == ["192.0.2.1", "2001:db8::2"]
    assert config.monitoring.recipients == ["ops@x.test"]
    assert config.zone.domain_dns_server == "127.0.0.1"  # what `simplefailover check` asks


def test_existing_config_is_kept_unless_forced(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "config.yaml"
    path.parent.mkdir()
    mine = "# mine\n" + MINE
    path.write_text(mine)
    kept = install(tmp_path)
    assert kept.returncode == 0 and "kept the existing config" in kept.stdout
    assert path.read_text() == mine
    assert (
        "SimpleFailover DNS failover for mine.example"
        in (tmp_path / "units" / "simplefailover.service").read_text()
    )
    forced = install(tmp_path, "--force")
    assert forced.returncode == 0 and load_config(path).zone.name == "imagicle.example.com"


def test_an_invalid_existing_config_gets_no_unit(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "config.yaml"
    path.parent.mkdir()
    path.write_text("# mine\n")
    refused = install(tmp_path)
    assert refused.returncode == 2
    assert "invalid config, no unit written" in refused.stderr
    assert not (tmp_path / "units").exists()


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_install_needs_no_network(tmp_path: Path) -> None:
    """In a network namespace with no interface up, not even loopback, install still works."""
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("cannot create a network namespace here")
    result = install(tmp_path, prefix=("unshare", "--net"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "units" / "simplefailover.service").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--domain-dns-server", "dns.example.com"), "expected the domain DNS server's IP address"),
        (("--node", "node1"), "expected ID=ADDRESS[,PRIORITY]"),
        (("--node", "node1=not-an-ip"), "is not an IPv4 or IPv6 address"),
    ],
)
def test_bad_arguments_are_explained(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = install(tmp_path, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "units").exists()


def test_service_commands_without_systemd(tmp_path: Path) -> None:
    if Path("/run/systemd/system").is_dir():
        pytest.skip("systemd runs here; these are the fallbacks for machines without it")
    install(tmp_path)
    started = cli("service", "start")
    assert started.returncode == 2 and "systemd is not running on this machine" in started.stderr
    status = cli("service", "status", "-c", str(tmp_path / "etc" / "config.yaml"))
    assert status.returncode == 3
    assert status.stdout.startswith("not running: no running simplefailover service found")


def test_service_commands_act_on_both_installed_units(tmp_path: Path) -> None:
    from simplefailover.ops.install import installed_units

    assert installed_units(tmp_path) == ["simplefailover.service"]
    (tmp_path / "clustersync.service").write_text("[Service]\n")
    assert installed_units(tmp_path) == ["simplefailover.service", "clustersync.service"]
