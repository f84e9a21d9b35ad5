#!/usr/bin/env bash
# Queries per second on the failover record (ias1.bench.test A), measured with dnsperf
# against servers serving the same records, each pinned to one core
# (taskset -c $SERVER_CPU) while dnsperf runs on the other ($CLIENT_CPU):
#   ours     our responder inside the real service (engine, pollers, dashboard, mail...)
#   ours-dns the same responder with only the DNS service and the pollers running
#   dnslib   dnslib's stock DNSServer (ZoneResolver)
#   bind     BIND 9 (named -n 1: one worker thread)
# The machine is shared and noisy, so the servers take turns, ROUNDS times each, and
# every figure is the best of its rounds; ratios are of those best figures.
# Usage: bench/dns_qps.sh [seconds per run (default 5)] [rounds (default 3)]
# Loopback only: 127.0.0.33 (ours), .36 (ours-dns), .34 (dnslib), 127.0.0.1 (BIND).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN=${1:-5}
ROUNDS=${2:-3}
PORT=${PORT:-15353}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
OUTSTANDING=${OUTSTANDING:-100}
PY=${PY:-.venv/bin/python}
NODE=127.0.0.31
# named listens only on addresses configured on an interface, and lo carries just
# 127.0.0.1/8, so BIND gets 127.0.0.1 (same high port) instead of a 127.0.0.3x address.
BIND_HOST=${BIND_HOST:-127.0.0.1}

for tool in dnsperf named taskset dig; do
  command -v "$tool" >/dev/null || { echo "missing $tool (Debian: dnsperf bind9 bind9-dnsutils util-linux)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/sf-dnsbench.XXXXXX)
chmod 755 "$WORK"  # named drops to user bind
SERVER_PID=""
HOST=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill -9 "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

for _ in $(seq 1000); do echo "ias1.bench.test A"; done >"$WORK/queries"

# BIND 9's files: the same records as the others serve.
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
BIND_USER=()
if [ "$(id -u)" = 0 ] && id bind >/dev/null 2>&1; then
  chown -R bind: "$WORK/bind"
  BIND_USER=(-u bind)
fi

# Start server $1 pinned to SERVER_CPU; set SERVER_PID and HOST.
start_server() {
  local cmd
  case "$1" in
    ours) HOST=127.0.0.33; cmd=("$PY" -m bench.dns.ours --host $HOST --port "$PORT" --node "$NODE") ;;
    ours-dns) HOST=127.0.0.36; cmd=("$PY" -m bench.dns.ours --only-dns --host $HOST --port "$PORT" --node "$NODE") ;;
    dnslib) HOST=127.0.0.34; cmd=("$PY" -m bench.dns.stock_dnslib --host $HOST --port "$PORT" --node "$NODE") ;;
    bind) HOST=$BIND_HOST; cmd=(named -g -n 1 "${BIND_USER[@]}" -c "$WORK/bind/named.conf") ;;
  esac
  taskset -c "$SERVER_CPU" "${cmd[@]}" >"$WORK/$1.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 150); do  # bounded: 15 s
    if dig +short +time=1 +tries=1 @"$HOST" -p "$PORT" ias1.bench.test A 2>/dev/null | grep -q "$NODE"; then return 0; fi
    sleep 0.1
  done
  echo "$1 never answered on $HOST:$PORT" >&2; tail -20 "$WORK/$1.log" >&2; exit 1
}

# SIGTERM, then SIGKILL after 15 s, and say so: a clean shutdown is part of the job.
stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "warning: $1 ignored SIGTERM for 15 s; killed" >&2
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# dnsperf against HOST; append "qps latency_ms lost" to $WORK/$1.runs.
measure() {
  taskset -c "$CLIENT_CPU" dnsperf -s "$HOST" -p "$PORT" -d "$WORK/queries" -l "$SECONDS_PER_RUN" \
    -q "$OUTSTANDING" -t 2 >"$WORK/out" 2>&1 || true
  awk '/Queries per second/ {q=$4} /Average Latency/ {l=$4*1000} /Queries lost/ {x=$3}
       END {printf "%.0f %.3f %s\n", q, l, x}' "$WORK/out" >>"$WORK/$1.runs"
}

SERVERS=(ours ours-dns dnslib bind)
for round in $(seq "$ROUNDS"); do
  for server in "${SERVERS[@]}"; do
    start_server "$server"
    measure "$server"
    stop_server "$server"
  done
  echo "round $round/$ROUNDS done" >&2
done

# Best run (highest qps) of each server: "qps latency lost all-qps".
best() { sort -n -r "$WORK/$1.runs" | head -1 | tr '\n' ' '; echo "$(cut -d' ' -f1 "$WORK/$1.runs" | paste -sd/)"; }
read -r OURS_QPS OURS_LAT OURS_LOST OURS_ALL < <(best ours)
read -r DNS_QPS DNS_LAT DNS_LOST DNS_ALL < <(best ours-dns)
read -r LIB_QPS LIB_LAT LIB_LOST LIB_ALL < <(best dnslib)
read -r BIND_QPS BIND_LAT BIND_LOST BIND_ALL < <(best bind)

echo "dnsperf -l $SECONDS_PER_RUN -q $OUTSTANDING, query ias1.bench.test A; best of $ROUNDS rounds"
echo "server on CPU $SERVER_CPU, dnsperf on CPU $CLIENT_CPU ($(nproc) cores, shared; load $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-30s %9s %12s %6s   %s\n' "server" "qps" "avg latency" "lost" "qps of every round"
printf '%-30s %9s %9s ms %6s   %s\n' "simplefailover (whole service)" "$OURS_QPS" "$OURS_LAT" "$OURS_LOST" "$OURS_ALL"
printf '%-30s %9s %9s ms %6s   %s\n' "simplefailover (DNS + pollers)" "$DNS_QPS" "$DNS_LAT" "$DNS_LOST" "$DNS_ALL"
printf '%-30s %9s %9s ms %6s   %s\n' "dnslib DNSServer" "$LIB_QPS" "$LIB_LAT" "$LIB_LOST" "$LIB_ALL"
printf '%-30s %9s %9s ms %6s   %s\n' "BIND 9 (named -n 1)" "$BIND_QPS" "$BIND_LAT" "$BIND_LOST" "$BIND_ALL"
awk -v o="$OURS_QPS" -v d="$DNS_QPS" -v b="$BIND_QPS" -v l="$LIB_QPS" 'BEGIN {
  printf "ours / BIND   = %.2f (DNS + pollers only: %.2f)\n", o / b, d / b;
  printf "ours / dnslib = %.1f (DNS + pollers only: %.1f)\n", o / l, d / l }'
echo "whole service under load: $(grep -h 'polls during' "$WORK/ours.log" || echo 'no poll report')"
