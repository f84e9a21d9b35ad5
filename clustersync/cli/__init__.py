"""The `clustersync` command."""
