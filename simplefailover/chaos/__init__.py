"""The chaos drill (`python -m simplefailover.chaos`, `make chaos`): faults against the demo cluster."""
