"""The names teardown's plan and probes share."""

NAME = "teardown"
UNREGISTER = "unregister"
DUMPS = "/var/db/warden/dumps"
KEPT_DB = "teardown.kept_db"
