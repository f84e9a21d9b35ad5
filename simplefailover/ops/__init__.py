"""Operator tooling around the runtime: what a person runs, not what the service runs.

`check` (poll once, print the table) and its delegation check; `reload` and the pid file it
finds the service by; `install-service`/`uninstall-service` and the systemd units they
write; `service`; the configuration reference generator (configdoc); and how every command
reads the config file (configfile). The running service imports only the pid file from here.
"""
