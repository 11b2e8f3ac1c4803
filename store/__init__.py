"""The database layer: the Style leaderboard and the Tags gallery.

SQLAlchemy 2 over SQLite (a file, by default) or PostgreSQL, with Alembic migrations that run
when a database is opened. Plain functions, no Gradio; this package imports nothing else of
InstaVis but the data folder (`data_folder`, which `models/` reads too). `store.leaderboard`
holds the leaderboard's functions and `store.gallery` the gallery's; the modules below them
(`database`, `migrate`, `entries`, `thumbnails`, `tokens`, `validation`) are the machinery both
share.
"""

from store.database import Database, default_database, open_database, reset_default
from store.errors import (
    BadSetting,
    InvalidEntry,
    NoSuchEntry,
    RateLimited,
    Refused,
    WrongToken,
)
from store.gallery import GalleryEntry, GalleryPage, GalleryThumb, PostedPhoto
from store.leaderboard import LeaderboardEntry, SharedEntry, StyleCount

__all__ = [
    "BadSetting", "Database", "GalleryEntry", "GalleryPage", "GalleryThumb", "InvalidEntry",
    "LeaderboardEntry", "NoSuchEntry", "PostedPhoto", "RateLimited", "Refused", "SharedEntry",
    "StyleCount", "WrongToken", "default_database", "open_database", "reset_default",
]
