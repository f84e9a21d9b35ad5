#!/usr/bin/env bash
# Queries per second on the failover record (ias1.bench.test A), measured with dnsperf
# against three servers serving the same records, one after the other, each pinned to
# one core (taskset -c $SERVER_CPU) while dnsperf runs on the other ($CLIENT_CPU):
#   1. our responder, inside the real service (engine, pollers, dashboard running)
#   2. dnslib's stock DNSServer (ZoneResolver)
#   3. BIND 9 (named -n 1: one worker thread)
# Prints qps, average latency and the ratios. Usage: bench/dns_qps.sh [seconds per run]
# Loopback only: 127.0.0.33 (ours), 127.0.0.34 (dnslib), 127.0.0.1 (BIND), port $PORT.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN=${1:-10}
PORT=${PORT:-15353}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
OUTSTANDING=${OUTSTANDING:-100}
PY=${PY:-.venv/bin/python}
NODE=127.0.0.31
# named listens only on addresses configured on an interface, and lo carries just
# 127.0.0.1/8, so BIND gets 127.0.0.1 (same high port) instead of a 127.0.0.3x address.
BIND_HOST=${BIND_HOST:-127.0.0.1}

for tool in dnsperf named taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool (Debian: dnsperf, bind9, util-linux)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/sf-dnsbench.XXXXXX)
chmod 755 "$WORK"  # named drops to user bind
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

for _ in $(seq 1000); do echo "ias1.bench.test A"; done >"$WORK/queries"

# Wait (bounded) until the server at $1 answers the failover record.
wait_ready() {
  for _ in $(seq 100); do
    if dig +short +time=1 +tries=1 @"$1" -p "$PORT" ias1.bench.test A 2>/dev/null | grep -q "$NODE"; then return 0; fi
    sleep 0.1
  done
  echo "server at $1 never answered" >&2; return 1
}

# Run dnsperf against $1; print "qps latency_ms".
measure() {
  taskset -c "$CLIENT_CPU" dnsperf -s "$1" -p "$PORT" -d "$WORK/queries" -l "$SECONDS_PER_RUN" \
    -q "$OUTSTANDING" -t 2 >"$WORK/out" 2>&1
  local qps lat lost
  qps=$(awk '/Queries per second/ {print $4}' "$WORK/out")
  lat=$(awk '/Average Latency/ {printf "%.3f", $4 * 1000}' "$WORK/out")
  lost=$(awk '/Queries lost/ {print $3}' "$WORK/out")
  echo "${qps:-0} ${lat:-nan} ${lost:-?}"
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# 1. ours
taskset -c "$SERVER_CPU" "$PY" -m bench.dns.ours --host 127.0.0.33 --port "$PORT" --node "$NODE" \
  >"$WORK/ours.log" 2>&1 &
SERVER_PID=$!
wait_ready 127.0.0.33
read -r OURS_QPS OURS_LAT OURS_LOST < <(measure 127.0.0.33)
stop_server
OURS_NOTE=$(grep -h "polls during" "$WORK/ours.log" || echo "no poll report")

# 2. dnslib's stock DNSServer
taskset -c "$SERVER_CPU" "$PY" -m bench.dns.stock_dnslib --host 127.0.0.34 --port "$PORT" --node "$NODE" \
  >"$WORK/dnslib.log" 2>&1 &
SERVER_PID=$!
wait_ready 127.0.0.34
read -r LIB_QPS LIB_LAT LIB_LOST < <(measure 127.0.0.34)
stop_server

# 3. BIND 9, one worker thread
mkdir -p "$WORK/bind"
cat >"$WORK/bind/bench.test.zone" <<EOF
\$TTL 3600
@     IN SOA ns1.bench.test. hostmaster.bench.test. 1 3600 600 86400 30
@     IN NS  ns1.bench.test.
ns1   IN A   $NODE
ias1  30 IN A $NODE
EOF
cat >"$WORK/bind/named.conf" <<EOF
options {
  directory "$WORK/bind";
  pid-file "$WORK/bind/named.pid";
  session-keyfile "$WORK/bind/session.key";
  listen-on port $PORT { $BIND_HOST; };
  listen-on-v6 { none; };
  recursion no;
  allow-query { any; };
  minimal-responses yes;
  dnssec-validation no;  // no trust-anchor fetches: nothing may leave this host
  notify no;
};
controls { };
zone "bench.test" { type primary; file "$WORK/bind/bench.test.zone"; };
EOF
[ "$(id -u)" = 0 ] && chown -R bind: "$WORK/bind" 2>/dev/null || true
USER_ARGS=()
[ "$(id -u)" = 0 ] && id bind >/dev/null 2>&1 && USER_ARGS=(-u bind)
taskset -c "$SERVER_CPU" named -g -n 1 "${USER_ARGS[@]}" -c "$WORK/bind/named.conf" >"$WORK/bind.log" 2>&1 &
SERVER_PID=$!
wait_ready $BIND_HOST || { tail -40 "$WORK/bind.log" >&2; exit 1; }
read -r BIND_QPS BIND_LAT BIND_LOST < <(measure $BIND_HOST)
stop_server

echo "dnsperf, ${SECONDS_PER_RUN} s per server, $OUTSTANDING outstanding queries, query: ias1.bench.test A"
echo "server on CPU $SERVER_CPU, dnsperf on CPU $CLIENT_CPU ($(nproc) cores, shared)"
printf '%-28s %12s %14s %8s\n' "server" "qps" "avg latency" "lost"
printf '%-28s %12.0f %11s ms %8s\n' "simplefailover (ours)" "$OURS_QPS" "$OURS_LAT" "$OURS_LOST"
printf '%-28s %12.0f %11s ms %8s\n' "dnslib DNSServer" "$LIB_QPS" "$LIB_LAT" "$LIB_LOST"
printf '%-28s %12.0f %11s ms %8s\n' "BIND 9 (named -n 1)" "$BIND_QPS" "$BIND_LAT" "$BIND_LOST"
awk -v o="$OURS_QPS" -v b="$BIND_QPS" -v l="$LIB_QPS" 'BEGIN {
  printf "ours / BIND   = %.2f\n", (b > 0 ? o / b : 0);
  printf "ours / dnslib = %.1f\n", (l > 0 ? o / l : 0) }'
echo "while loaded, ours: $OURS_NOTE"
