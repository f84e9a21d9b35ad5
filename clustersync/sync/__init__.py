"""Syncing around the ring: one session between two members, the run loop, the service."""
