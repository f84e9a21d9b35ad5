"""Operator actions: member control, backup, restore, schema migration, the event log."""
