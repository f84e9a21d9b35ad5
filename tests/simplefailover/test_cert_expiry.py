"""TLS certificate expiry: read from real handshakes, shown, exported, and warned about once."""

from __future__ import annotations

import datetime
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import trustme
from hypothesis import given
from hypothesis import strategies as st

from simplefailover.config import HttpPolling, Node
from simplefailover.daemon import Daemon
from simplefailover.demo.procs import free_port as free_common_port
from simplefailover.notify.certs import CertWarnings
from simplefailover.pollers import HttpPoller
from simplefailover.pollers.certs import days_left, not_after
from tests.support.bind import free_port, wait_until
from tests.support.smtp import smtp_server

NODES = {"n1": ("127.0.23.51", 5), "n2": ("127.0.23.52", 60)}  # address, days the certificate is valid
SMTP_HOST, DASHBOARD_HOST, DNS_HOST = "127.0.23.60", "127.0.23.61", "127.0.23.62"


def in_days(days: float) -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.mark.parametrize("year", [2031, 2049, 2050, 2077, 2199])
def test_not_after_read_from_der(ca: trustme.CA, year: int) -> None:
    """UTCTime up to 2049, GeneralizedTime from 2050 (RFC 5280): both read right."""
    end = datetime.datetime(year, 7, 14, 12, 30, 5, tzinfo=datetime.UTC)
    cert = ca.issue_cert("x.example.test", not_after=end)
    der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())
    assert not_after(der) == end.timestamp()


@pytest.mark.parametrize(
    "junk", [b"", b"\x30", b"\x30\x03\x02\x01\x01", b"\x04\x00", b"\x30\x84\xff\xff\xff\xff"]
)
def test_not_after_refuses_junk(junk: bytes) -> None:
    with pytest.raises(ValueError):
        not_after(junk)


def test_one_warning_until_renewed() -> None:
    warnings = CertWarnings(14)
    now = 1_000_000.0
    soon, later = now + 5 * 86400, now + 60 * 86400
    first = warnings.observe("n1", "web", soon, now)
    assert first is not None and first.new == "5.0 days left" and first.kind == "cert_expiry"
    assert [warnings.observe("n1", "web", soon, now + i) for i in range(1, 100)] == [None] * 99
    assert warnings.observe("n2", "web", later, now) is None
    assert warnings.observe("n1", "web", later, now + 200) is None  # renewed ...
    again = warnings.observe("n1", "web", soon + 100 * 86400, now + 95 * 86400)  # ... and short again
    assert again is not None
    assert warnings.observe("n1", "web", now - 86400, now) is None  # same check: already warned
    assert CertWarnings(14).observe("n1", "web", now - 86400, now).new == "expired"  # type: ignore[union-attr]
    assert CertWarnings(0).observe("n1", "web", soon, now) is None  # 0: never
    assert warnings.observe("n1", "web", None, now) is None  # no certificate seen


@given(st.lists(st.one_of(st.none(), st.floats(-30, 90)), max_size=60), st.floats(0.5, 60))
def test_one_warning_per_stretch_under_the_threshold(days: list[float | None], threshold: float) -> None:
    """One warning per stretch of certificates under the threshold (a result without one breaks none)."""
    warnings = CertWarnings(threshold)
    now = 1_000_000.0
    got = [warnings.observe("n", "p", None if d is None else now + d * 86400, now) is not None for d in days]
    seen = [days_left(now + d * 86400, now) for d in days if d is not None]  # the same rounding
    stretches = sum(1 for i, d in enumerate(seen) if d < threshold and (i == 0 or seen[i - 1] >= threshold))
    assert sum(got) == stretches


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"Login")

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def https_node(ca: trustme.CA, address: str, port: int, days: float) -> Iterator[None]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(address, not_after=in_days(days)).configure_cert(context)
    server = ThreadingHTTPServer((address, port), Hello)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def test_http_poller_reads_the_certificate_with_and_without_verification(
    ca: trustme.CA, ca_file: Path
) -> None:
    port = free_port(NODES["n1"][0])
    node = Node(id="n1", address=NODES["n1"][0])
    with https_node(ca, NODES["n1"][0], port, 5):
        for verify in (True, False):
            polling = HttpPolling(
                id="web",
                method="http",
                url=f"https://{{address}}:{port}/",
                ca_file=ca_file,
                verify_tls=verify,
            )
            result = HttpPoller(polling).check(node)
            assert result.ok, result.error
            assert result.cert_not_after is not None
            assert 4.9 < days_left(result.cert_not_after, time.time()) <= 5
        plain = HttpPolling(id="web", method="http", url=f"http://{{address}}:{port}/")
        assert HttpPoller(plain).check(node).cert_not_after is None  # not https: nothing to read


CONFIG = """
zone: {{name: example.test}}
nodes:
  - {{id: n1, address: {n1}, priority: 10}}
  - {{id: n2, address: {n2}, priority: 5}}
pollings:
  - {{id: web, method: http, url: "https://{{address}}:{port}/", ca_file: {ca_file}, timeout: 2}}
hostnames:
  - {{name: www, polling: web}}
schedule: {{interval: 0.2, retry_interval: 0.2, fall: 1, rise: 1, jitter: 0}}
dns: {{listen: ["{dns}:0"]}}
dashboard: {{listen: "{dashboard}:{dashboard_port}", enabled: true}}
monitoring:
  recipients: [ops@example.com]
  smtp: {{host: {smtp}, port: {smtp_port}, security: none}}
  cert_warning_days: 14
  retry_delay: 0.2
cluster: {{node_id: watcher23}}
"""


def test_five_day_certificate_warned_once_shown_and_exported(
    ca: trustme.CA, ca_file: Path, tmp_path: Path
) -> None:
    port = free_common_port([address for address, _ in NODES.values()])
    dashboard_port = free_port(DASHBOARD_HOST)
    with ExitStack() as stack:
        inbox, smtp_port = stack.enter_context(smtp_server(SMTP_HOST))
        for address, days in NODES.values():
            stack.enter_context(https_node(ca, address, port, days))
        path = tmp_path / "config.yaml"
        path.write_text(
            CONFIG.format(
                n1=NODES["n1"][0],
                n2=NODES["n2"][0],
                port=port,
                ca_file=ca_file,
                dns=DNS_HOST,
                dashboard=DASHBOARD_HOST,
                dashboard_port=dashboard_port,
                smtp=SMTP_HOST,
                smtp_port=smtp_port,
            )
        )
        daemon = Daemon(path)
        daemon.start()
        stack.callback(daemon.stop)
        wait_until(lambda: inbox.matching("TLS certificate"), 15, "the certificate warning mail")

        def polls(node: str) -> float:
            return daemon.metrics.poll_results.labels(node, "web", "OK")._value.get()

        # Many more polls of both nodes, with their certificates, after the warning.
        wait_until(lambda: min(polls("n1"), polls("n2")) >= 15, 20, "15 polls of each node")
        base = f"http://{DASHBOARD_HOST}:{dashboard_port}"
        status = requests.get(f"{base}/api/status", timeout=5).json()
        metrics = requests.get(f"{base}/metrics", timeout=5).text
        page = requests.get(f"{base}/", timeout=5).text
    assert inbox.matching("TLS certificate") == ["[watcher23] TLS certificate of n1 (web): 5.0 days left"]
    assert inbox.subjects() == inbox.matching("TLS certificate")  # nothing else was mailed
    body = str(inbox.mails[0].get_content())
    assert "Expiry:   TLS certificate expires" in body and "warning under 14 days" in body
    days = {c["node"]: c["cert_days_left"] for c in status["checks"]}
    assert 4.9 <= days["n1"] <= 5 and 59.9 <= days["n2"] <= 60
    assert all(c["cert_expires_at"].endswith("Z") for c in status["checks"])
    assert [e["kind"] for e in status["events"]].count("cert_expiry") == 1
    lines = [line for line in metrics.splitlines() if line.startswith("simplefailover_tls_cert_days_left{")]
    assert sorted(line.split("{")[1].split("}")[0] for line in lines) == [
        'node="n1",polling="web"',
        'node="n2",polling="web"',
    ]
    assert "simplefailover_tls_cert_expiry_timestamp_seconds{" in metrics
    assert '<td class="num cert warning"' in page and ">5 days</td>" in page and ">60 days</td>" in page
