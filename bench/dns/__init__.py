"""Helpers for bench/dns_qps.sh: the servers it measures."""
