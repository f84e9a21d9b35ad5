# The two commands: `make demo` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages that real components in the tests need (the tests start kamailio themselves,
# on loopback: its system service, which would listen on 5060, is disabled after install;
# iptables: the agreement tests and the chaos drill cut links on loopback).
DEB_PACKAGES := bind9 bind9-dnsutils dnsperf chromium postgresql systemd kamailio strace iproute2 iptables
DEB_CHECK := /usr/sbin/named /usr/bin/dig /usr/bin/dnsperf /usr/bin/chromium /usr/bin/pg_ctlcluster /usr/bin/systemd-analyze /usr/sbin/kamailio /usr/bin/strace /usr/sbin/ip /usr/sbin/iptables

# Debian packages only the benchmarks need: the peers bench.failover compares against.
BENCH_PACKAGES := gdnsd pdns-server pdns-backend-bind
BENCH_CHECK := /usr/sbin/gdnsd /usr/sbin/pdns_server /usr/lib/x86_64-linux-gnu/pdns/libbindbackend.so

.PHONY: demo test lint typecheck unit system-deps bench-deps venv chaos bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

system-deps:
	@missing=""; for f in $(DEB_CHECK); do [ -x $$f ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	  echo "missing:$$missing -> installing Debian packages: $(DEB_PACKAGES)"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root (or install $(DEB_PACKAGES) yourself)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEB_PACKAGES) \
	    && { systemctl disable --now kamailio 2>/dev/null || true; }; \
	fi

bench-deps:
	@missing=""; for f in $(BENCH_CHECK); do [ -e $$f ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	  echo "missing:$$missing -> installing Debian packages: $(BENCH_PACKAGES)"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root (or install $(BENCH_PACKAGES) yourself)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BENCH_PACKAGES); \
	fi

demo: venv
	$(BIN)/python -m simplefailover demo

# Five minutes of process, clock and network faults against a cluster of its own: one network
# namespace per node (root), the installed wheel, production ports (docs/operations.md);
# CHAOS_ARGS="--seconds 120 --seed 7 --nodes 5" to change it, "--bed loopback" for the old bed
# on 127.0.0.170-172. The summary ends with PASS or FAIL.
chaos: venv
	$(BIN)/python -m simplefailover.chaos $(CHAOS_ARGS)

lint: venv
	$(BIN)/ruff check habase simplefailover clustersync tests bench

typecheck: venv
	$(BIN)/mypy

# pytest exit code 5 means "no tests ran": that is a failure here, never a pass.
unit: venv system-deps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

test: lint typecheck unit

# Every benchmark, each bounded; figures go to docs/benchmarks.md by hand (about 45 minutes).
bench: venv system-deps bench-deps
	$(BIN)/python -m bench.polls --seconds 30
	timeout 2400 $(BIN)/python -m bench.failover --trials 3
	bench/dns_qps.sh 5 3
	$(BIN)/python -m bench.render --runs 50
	$(BIN)/python -m bench.mail
	$(BIN)/python -m bench.checks
	$(BIN)/python -m bench.sync --rows 50000 --writes 40
	$(BIN)/python -m bench.json_codec
	$(BIN)/python -m bench.capture --rows 50000
	$(BIN)/python -m bench.merge
	$(BIN)/python -m bench.apply_breakdown --rows 50000
	timeout 600 $(BIN)/python -m bench.bulk_load --nodes 2 --rows 200000
	timeout 600 $(BIN)/python -m bench.bulk_load --nodes 5 --rows 200000
	timeout 1500 $(BIN)/python -m bench.join --mb 1024 --mix --repeat 3
	timeout 900 $(BIN)/python -m bench.agreement --trials 4 --fast-trials 8

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
