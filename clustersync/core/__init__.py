"""Pure logic: the hybrid clock, version vectors, the row merge, ring order, alarms, events, codec."""
