"""The names teardown's plan and probes share."""

from ..layout import DUMPS_DIR

DUMPS = DUMPS_DIR  # where each run's dump of the agent's database goes

NAME = "teardown"
UNREGISTER = "unregister"
KEPT_DB = "teardown.kept_db"
