"""Where the bot's data files are: templates, migrations, the sandbox page.

The repository keeps `templates/` and `migrations/` at the top level (the project layout); a
wheel ships them inside the package as `bot/templates/` and `bot/migrations/` (see
`[tool.setuptools.package-dir]` in pyproject.toml). `data_dir` finds them through
importlib.resources first, so an installed bot never reads the working directory, and falls
back to the source tree for a checkout (and an editable install, which maps the folders
without copying them).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parent.parent


def data_dir(name: str) -> Path:
    """`templates`, `migrations`: the installed copy inside the package, else the checkout's.

    Returns the path even when neither exists (callers report what is missing)."""
    packaged = resources.files("bot").joinpath(name)
    # pip installs wheels unzipped, so the package's files are plain files on disk.
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    return SOURCE_ROOT / name


def package_dir(package: str, name: str) -> Path:
    """A folder shipped as package data of `package`, e.g. ("bot.sandbox", "static")."""
    found = resources.files(package).joinpath(name)
    if not isinstance(found, Path):  # a zipped install: not supported, say so plainly
        raise RuntimeError(f"{package}/{name} is not on the file system ({found!r})")
    return found
