"""The command layer: one module per command behind tasks.py, each validating its
input (the .env, every option) before any connection, so bad input never reaches a
host (exit 2), and returning the exit code the design promises (docs/cli.md).

Nothing below this layer imports it (tests/unit/test_layers.py).
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import EXIT_CHANGE_FAILED, WardenError
from ..output import clean, console


def guarded(command: Callable[[], int]) -> int:
    """Run a command; turn every expected failure into its message and exit code."""
    try:
        return command()
    except WardenError as exc:
        console(stderr=True).print(
            f"[bold red]error:[/bold red] {clean(exc.message)}", soft_wrap=True
        )
        return exc.exit_code
    except KeyboardInterrupt:
        console(stderr=True).print("interrupted")
        return 130
    except Exception as exc:  # a bug of warden's: one clear line, never a traceback
        console(stderr=True).print(
            f"[bold red]internal error:[/bold red] {clean(type(exc).__name__)}: {clean(str(exc))} "
            "(please report it)",
            soft_wrap=True,
        )
        return EXIT_CHANGE_FAILED
