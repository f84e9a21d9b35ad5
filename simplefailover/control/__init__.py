"""Operator control (SPEC SF-11): maintenance windows and pins, cluster-wide and durable."""
