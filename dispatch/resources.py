"""Data files shipped inside the package: the SQL migrations and the default configuration.

The source tree keeps them at the top level (``sql/``, ``config/``); the build maps
them into the package as ``dispatch/sql`` and ``dispatch/config`` (setup.py), and
they are read through :mod:`importlib.resources`, so an installed wheel uses its
own copy. Run from a source checkout (an editable install, or ``PYTHONPATH``), the
package has no such folders and the checkout's top-level ones are used instead.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


class MigrationFilesMissing(RuntimeError):
    """The installation has no migration files: it cannot create or check the schema."""


def _data_dir(name: str) -> Traversable:
    packaged = files("dispatch") / name
    if packaged.is_dir():
        return packaged
    checkout = _CHECKOUT / name
    if (_CHECKOUT / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    return packaged  # absent: an incomplete installation, reported by its readers


def sql_dir() -> Traversable:
    """The numbered migration files."""
    return _data_dir("sql")


def config_dir() -> Path:
    """The default ``siap112.toml`` and run cards."""
    found = _data_dir("config")
    return found if isinstance(found, Path) else Path(str(found))
