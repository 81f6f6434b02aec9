"""One clear line, not a traceback, for a command's expected failures: a profile that does not
load, a store or keys file that cannot be read, a value the schema refuses."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from pydantic import ValidationError

from serving.http_limits import validation_error


@contextlib.contextmanager
def one_line_errors(command: str) -> Iterator[None]:
    """Use as `with one_line_errors("deploy"):` or as a decorator on the command's function."""
    try:
        yield
    except ValidationError as exc:
        raise SystemExit(f"adrisk {command}: {validation_error(exc.errors()).detail}") from None
    except (ValueError, OSError, sqlite3.Error) as exc:
        raise SystemExit(f"adrisk {command}: {exc}") from None
