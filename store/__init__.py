"""The database layer: the Style leaderboard now, the Tags gallery next.

SQLAlchemy 2 over SQLite (a file, by default) or PostgreSQL, with Alembic migrations that run
when a database is opened. Plain functions, no Gradio; this package imports nothing else of
InstaVis. `store.leaderboard` holds the leaderboard's functions; the modules below it
(`database`, `migrate`, `entries`, `thumbnails`, `tokens`, `validation`) are the machinery a
second table reuses.
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
from store.leaderboard import LeaderboardEntry, SharedEntry, StyleCount

__all__ = [
    "BadSetting", "Database", "InvalidEntry", "LeaderboardEntry", "NoSuchEntry", "RateLimited",
    "Refused", "SharedEntry", "StyleCount", "WrongToken", "default_database", "open_database",
    "reset_default",
]
