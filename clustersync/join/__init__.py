"""Creating a cluster and joining one: membership rows, snapshots, their transfer and swap."""
