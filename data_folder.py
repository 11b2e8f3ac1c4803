"""The data folder: where InstaVis keeps what it writes (the database, the Tags cache, the
Profile index, gallery photos).

Both `models/` and `store/` find it here. It lives apart from `store.settings` so that a
judgement or a command-line tool that only needs a folder name imports neither SQLAlchemy nor
Alembic nor the gallery; `models/` never imports `store/`.

- `INSTAVIS_DATA_DIR`: the data folder. Unset: `/data` on a Hugging Face Space whose persistent
  storage is attached (`SPACE_ID` is set and `/data` is a writable folder), else
  `$XDG_DATA_HOME/instavis`, else `~/.local/share/instavis` (the XDG default, so it needs no
  extra package).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ENV_DATA_DIR", "SPACE_DATA_DIR", "data_dir"]

ENV_DATA_DIR = "INSTAVIS_DATA_DIR"
"""The environment variable that names the data folder."""

SPACE_DATA_DIR = Path("/data")
"""Where a Hugging Face Space mounts its persistent storage."""


def data_dir() -> Path:
    """The data folder, read from the environment on every call (it is not made here)."""
    chosen = os.environ.get(ENV_DATA_DIR, "").strip()
    if chosen:
        return Path(chosen).expanduser()
    # A Space's persistent storage is mounted at /data; without it, /data is missing or
    # read-only and a file written elsewhere is lost on restart anyway.
    on_space = bool(os.environ.get("SPACE_ID"))
    if on_space and SPACE_DATA_DIR.is_dir() and os.access(SPACE_DATA_DIR, os.W_OK):
        return SPACE_DATA_DIR
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "instavis"
