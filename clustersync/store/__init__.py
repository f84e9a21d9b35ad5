"""This node's SQLite database: clustersync's own tables, capture, versions, apply, reads."""
