"""The store on real engines: every database test runs on a SQLite file and on PostgreSQL.

The `store_url` and `store_db` fixtures (tests/conftest.py, tests/store_engines.py) give each
test an empty database of its own on each engine.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections import Counter
from datetime import timedelta

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from PIL import Image
from sqlalchemy import event, inspect, text

import data_folder
import store
from store import leaderboard, migrate, settings
from store.errors import InvalidEntry, NoSuchEntry, RateLimited, WrongToken
from store.tables import Base, StyleShare
from tests.store_engines import run_at_once

LABEL_SETS = {
    "everyday": ["casual", "street", "formal", "sporty"],
    "fashionstyle14": ["casual", "dressy", "street", "rock"],
}


def photo(height: int = 240, width: int = 320, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def share(database, **changes):
    """A valid share, with `changes` applied."""
    fields = dict(nickname="ada", label_set="everyday", style="street", label_sets=LABEL_SETS,
                  probability=0.8, source="zero-shot", thumbnail=photo(), client="10.0.0.1")
    fields.update(changes)
    return leaderboard.share(database=database, **fields)


def row_count(database) -> int:
    with database.engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM style_shares")).scalar_one()


# === Round trip ===

def test_share_round_trips_every_field(store_db):
    before = store_db.clock()
    entry = share(store_db, nickname="  Ada L. ", style="formal", probability=0.625,
                  source="head", thumbnail=photo(300, 200))
    after = store_db.clock()

    assert isinstance(entry.id, int) and entry.id >= 1
    assert before <= entry.created_at <= after
    [shown] = leaderboard.top(database=store_db)
    assert (shown.id, shown.rank, shown.nickname, shown.label_set, shown.style) == (
        entry.id, 1, "Ada L.", "everyday", "formal")
    assert shown.probability == 0.625 and shown.source == "head"
    assert shown.created_at == entry.created_at and shown.created_at.utcoffset() == timedelta(0)
    thumbnail = Image.open(io.BytesIO(shown.thumbnail))
    assert thumbnail.format == "JPEG" and thumbnail.size == (107, 160)
    assert leaderboard.style_counts(database=store_db) == [
        store.StyleCount(label_set="everyday", style="formal", count=1)]


def test_top_ranks_each_style_and_filters(store_db):
    store_db.shares_per_minute = 100
    shares = [("everyday", "street", 0.5), ("everyday", "street", 0.9),
              ("everyday", "street", 0.7), ("everyday", "street", 0.9),
              ("everyday", "casual", 0.3), ("fashionstyle14", "street", 0.95)]
    ids = [share(store_db, label_set=ls, style=st, probability=p, nickname=f"n{i}").id
           for i, (ls, st, p) in enumerate(shares)]

    best = leaderboard.top(limit=2, database=store_db)
    # Per (label set, style), best first; equal probabilities keep the earlier share first.
    assert [(e.label_set, e.style, e.rank, e.id) for e in best] == [
        ("everyday", "casual", 1, ids[4]),
        ("everyday", "street", 1, ids[1]),
        ("everyday", "street", 2, ids[3]),
        ("fashionstyle14", "street", 1, ids[5]),
    ]
    street = leaderboard.top(style="street", label_set="everyday", limit=10, database=store_db)
    assert [e.id for e in street] == [ids[1], ids[3], ids[2], ids[0]]
    assert [e.label_set for e in leaderboard.top(style="street", database=store_db)] == [
        "everyday"] * 4 + ["fashionstyle14"]
    assert leaderboard.top(style="sporty", database=store_db) == []
    assert [(c.label_set, c.style, c.count) for c in
            leaderboard.style_counts(database=store_db)] == [
        ("everyday", "street", 4), ("everyday", "casual", 1), ("fashionstyle14", "street", 1)]
    assert [c.style for c in leaderboard.style_counts(label_set="fashionstyle14",
                                                      database=store_db)] == ["street"]


@pytest.mark.parametrize("limit", [0, 101, 2.5, True, "10"])
def test_top_refuses_a_bad_limit(store_db, limit):
    with pytest.raises(InvalidEntry, match=r"^limit: got .*; expected a whole number from 1 to"):
        leaderboard.top(limit=limit, database=store_db)


def test_default_database_follows_the_environment(store_url, monkeypatch):
    monkeypatch.setenv(settings.ENV_DATABASE_URL, store_url.render_as_string(hide_password=False))
    store.reset_default()
    try:
        entry = leaderboard.share(nickname="env", label_set="everyday", style="casual",
                                  label_sets=LABEL_SETS, probability=0.5, source="zero-shot",
                                  thumbnail=photo(), client="c")
        assert [e.id for e in leaderboard.top()] == [entry.id]
        assert store.default_database() is store.default_database()
        assert store.default_database().dialect == store_url.get_backend_name()
    finally:
        store.reset_default()


# === Migrations ===

def test_a_fresh_database_is_migrated_to_head(store_db):
    assert migrate.current_revision(store_db.engine) == migrate.head_revision()
    with store_db.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars(
        ).all() == [migrate.head_revision()]
        # What the migrations built is exactly what store.tables describes.
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    inspector = inspect(store_db.engine)
    indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("style_shares")}
    assert indexes["ix_style_shares_leaderboard"] == ["label_set", "style", "probability", "id"]
    assert "ix_style_shares_client_created" not in indexes  # the limit reads recent_writes


def test_opening_again_changes_nothing(store_url):
    first = store.open_database(store_url)
    entry = share(first)
    secret_hash = first.client_key_hash("10.0.0.1")
    first.close()

    second = store.open_database(store_url)
    try:
        assert migrate.current_revision(second.engine) == migrate.head_revision()
        assert [e.id for e in leaderboard.top(database=second)] == [entry.id]
        # Same per-database secret: the rate limit still recognises the client.
        assert second.client_key_hash("10.0.0.1") == secret_hash
        with second.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM store_secrets")).scalar_one() == 1
    finally:
        second.close()


def test_downgrade_to_base_and_upgrade_again(store_db):
    share(store_db)
    migrate.downgrade_to(store_db.engine, "base")
    assert migrate.current_revision(store_db.engine) is None
    assert not {"style_shares", "store_secrets"} & set(inspect(store_db.engine).get_table_names())

    migrate.upgrade_to_head(store_db.engine)
    store_db._client_key_secret = None  # a new database has a new secret
    assert migrate.current_revision(store_db.engine) == migrate.head_revision()
    assert row_count(store_db) == 0
    share(store_db)
    assert row_count(store_db) == 1


def test_engines_opening_a_fresh_database_at_once_migrate_it_once(store_url):
    # Four engines with pools of their own, as four app processes would have; threads start them.
    outcomes = run_at_once(4, lambda _: store.open_database(store_url))
    databases = [o for o in outcomes if isinstance(o, store.Database)]
    try:
        assert len(databases) == 4, outcomes
        with databases[0].engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM store_secrets")).scalar_one() == 1
        assert len({db.client_key_hash("x") for db in databases}) == 1
    finally:
        for database in databases:
            database.close()


# === Validation: one line naming the field, and no row ===

BAD_FIELDS = [
    ("nickname", ""),
    ("nickname", "   "),
    ("nickname", "x" * 33),
    ("nickname", "ab\x00cd"),
    ("nickname", "\x1b[31mred"),
    ("nickname", "two\nlines"),
    ("nickname", "zero\u200bwidth"),
    ("nickname", 42),
    ("nickname", None),
    ("style", "goth"),
    ("style", "dressy"),  # a label, but of the other set
    ("style", None),
    ("label_set", "mine"),
    ("label_set", ""),
    ("probability", -0.01),
    ("probability", 1.0001),
    ("probability", math.nan),
    ("probability", math.inf),
    ("probability", "0.5"),
    ("probability", True),
    ("probability", None),
    ("source", ""),
    ("source", "x" * 65),
    ("source", "zero-shot\n"),
    ("client", ""),
    ("client", None),
    ("thumbnail", b"certainly not a picture"),
    ("thumbnail", b""),
    ("thumbnail", "photo.jpg"),
    ("thumbnail", np.zeros((8, 8, 3), dtype=np.float32)),
]


def _jpeg(array: np.ndarray, **save) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="JPEG", **save)
    return out.getvalue()


def _bomb() -> bytes:
    # 200 megapixels of one colour: a 24 kB PNG that would take 200 MB to decode.
    out = io.BytesIO()
    Image.new("1", (20_000, 10_000)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS,
                         ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD_FIELDS)])
def test_a_bad_field_is_refused_in_one_line_and_stores_nothing(store_db, field, value):
    with pytest.raises(InvalidEntry) as refused:
        share(store_db, **{field: value})
    message = str(refused.value)
    assert message.startswith(f"{field}: got ") and "; expected " in message
    assert "\n" not in message and refused.value.field == field
    assert isinstance(refused.value, ValueError)
    assert row_count(store_db) == 0


@pytest.mark.parametrize("damage", ["truncated", "bomb", "truncated-pil-image"])
def test_a_damaged_or_huge_picture_is_refused(store_db, damage):
    data = {"truncated": lambda: _jpeg(photo())[:600], "bomb": _bomb,
            # Image.open reads only the header; the damage shows when the store decodes it.
            "truncated-pil-image": lambda: Image.open(io.BytesIO(_jpeg(photo())[:20_000]))
            }[damage]()
    with pytest.raises(InvalidEntry, match=r"^thumbnail: got (a damaged image|an image too "
                                           r"large|a \d+ x \d+ image)[^\n]*$"):
        share(store_db, thumbnail=data)
    assert row_count(store_db) == 0


def test_the_messages_say_what_is_accepted(store_db):
    with pytest.raises(InvalidEntry) as refused:
        share(store_db, style="goth")
    assert str(refused.value) == ("style: got 'goth'; expected a label of the 'everyday' set: "
                                  "'casual', 'formal', 'sporty', 'street'.")
    with pytest.raises(InvalidEntry) as refused:
        share(store_db, nickname="x" * 40)
    assert str(refused.value).startswith("nickname: got 40 characters")
    assert str(refused.value).endswith("expected 1 to 32 printable characters.")


SQL_NICKNAMES = ["'; DROP TABLE style_shares; --", "x'); DELETE FROM style_shares;--",
                 "x' OR '1'='1", 'a"; DROP TABLE store_secrets;']


def test_nicknames_that_read_as_sql_get_one_line_and_leave_no_row(store_db):
    store_db.shares_per_minute = 100
    share(store_db, nickname="first")
    for nickname in SQL_NICKNAMES:
        with pytest.raises(InvalidEntry) as refused:
            share(store_db, nickname=nickname)
        message = str(refused.value)
        assert message.startswith("nickname: got ") and "\n" not in message
        assert message.endswith("expected a nickname, not SQL (no ';', '--', '/*' or SQL "
                                "statements).")
    assert row_count(store_db) == 1
    assert {"style_shares", "store_secrets"} <= set(inspect(store_db.engine).get_table_names())


@pytest.mark.parametrize("nickname", ["O'Brien", "Rock & Roll", "select few", "drop-dead chic",
                                      "Zoë's closet", "x = y"])
def test_names_with_an_apostrophe_or_an_sql_word_are_still_nicknames(store_db, nickname):
    share(store_db, nickname=nickname)
    assert [e.nickname for e in leaderboard.top(database=store_db)] == [nickname]


def test_a_name_cannot_reach_the_sql_of_a_filter(store_db):
    share(store_db)
    assert leaderboard.top(style="x' OR '1'='1", database=store_db) == []
    assert leaderboard.style_counts(label_set="x' OR 1=1 --", database=store_db) == []


# === Rate limit ===

def test_the_rate_limit_counts_per_client_and_per_minute(store_url):
    database = store.open_database(store_url, shares_per_minute=3)
    try:
        start = database.clock()
        database.clock = lambda: start
        for _ in range(3):
            share(database, client="198.51.100.7")
        with pytest.raises(RateLimited) as refused:
            share(database, client="198.51.100.7")
        assert str(refused.value) == ("Too many shares: at most 3 a minute from one client; "
                                      "try again in 60 s.")
        assert row_count(database) == 3

        share(database, client="203.0.113.9")  # another client is not held up
        assert row_count(database) == 4

        database.clock = lambda: start + timedelta(seconds=59)
        with pytest.raises(RateLimited, match="try again in 1 s"):
            share(database, client="198.51.100.7")
        database.clock = lambda: start + timedelta(seconds=61)
        share(database, client="198.51.100.7")
        assert row_count(database) == 5
    finally:
        database.close()


def test_a_deleted_share_still_counts_against_the_limit(store_url):
    database = store.open_database(store_url, shares_per_minute=3)
    try:
        start = database.clock()
        database.clock = lambda: start
        for _ in range(3):  # share and take it back at once, three times
            entry = share(database, client="198.51.100.7")
            leaderboard.delete(entry.id, entry.delete_token, database=database)
        assert row_count(database) == 0
        with pytest.raises(RateLimited, match="at most 3 a minute"):
            share(database, client="198.51.100.7")
        assert row_count(database) == 0
        database.clock = lambda: start + timedelta(seconds=61)
        share(database, client="198.51.100.7")
    finally:
        database.close()


def test_a_refused_or_failed_write_is_not_counted(store_url):
    database = store.open_database(store_url, shares_per_minute=2)
    try:
        start = database.clock()
        database.clock = lambda: start
        share(database, client="198.51.100.7")
        with pytest.raises(InvalidEntry):  # refused before anything is written
            share(database, client="198.51.100.7", probability=1.5)
        share(database, client="198.51.100.7")  # the second of two
        for _ in range(2):  # refusals by the limit do not count either
            with pytest.raises(RateLimited):
                share(database, client="198.51.100.7")
        database.clock = lambda: start + timedelta(seconds=61)
        share(database, client="198.51.100.7")
        share(database, client="198.51.100.7")
    finally:
        database.close()


def test_writes_older_than_the_window_are_forgotten(store_url):
    database = store.open_database(store_url, shares_per_minute=100)
    try:
        start = database.clock()
        database.clock = lambda: start
        for i in range(5):
            share(database, client=f"198.51.100.{i}")
        database.clock = lambda: start + timedelta(seconds=61)
        share(database, client="203.0.113.9")
        with database.engine.connect() as connection:
            kept = connection.execute(text("SELECT count(*) FROM recent_writes")).scalar_one()
        assert kept == 1  # the five of a minute ago are gone, whoever made them
        assert row_count(database) == 6  # the entries themselves stay
    finally:
        database.close()


def test_concurrent_shares_from_one_client_cannot_pass_the_limit(store_url, monkeypatch):
    import time

    from store import entries

    def slow_rate_check(*args, **kwargs):
        entries.enforce_rate_limit(*args, **kwargs)
        time.sleep(0.1)  # widen the count-then-insert window a race would need

    monkeypatch.setattr(leaderboard, "enforce_rate_limit", slow_rate_check)
    database = store.open_database(store_url, shares_per_minute=3)
    try:
        outcomes = run_at_once(12, lambda i: share(database, nickname=f"racer {i}",
                                                   client="192.0.2.1"))
        landed = [o for o in outcomes if isinstance(o, store.SharedEntry)]
        refused = [o for o in outcomes if isinstance(o, RateLimited)]
        assert (len(landed), len(refused)) == (3, 9), outcomes
        assert row_count(database) == 3
    finally:
        database.close()


def test_the_client_is_not_stored_in_the_clear(store_db):
    share(store_db, client="198.51.100.23")
    with store_db.engine.connect() as connection:
        stored = connection.execute(text("SELECT client_key_hash FROM style_shares")).scalar_one()
    assert stored == store_db.client_key_hash("198.51.100.23")
    assert stored != hashlib.sha256(b"198.51.100.23").hexdigest()  # keyed, not a bare hash
    assert b"198.51.100.23" not in _every_stored_byte(store_db)


# === Delete tokens ===

def _every_stored_byte(database) -> bytes:
    """Every value of every row of every table, as bytes (text as UTF-8)."""
    chunks = []
    with database.engine.connect() as connection:
        for table in inspect(database.engine).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        chunks.append(bytes(value))
                    else:
                        chunks.append(str(value).encode("utf-8"))
    return b"\x00".join(chunks)


def test_the_right_token_deletes_and_a_wrong_one_keeps_the_row(store_db):
    kept = share(store_db, nickname="kept")
    gone = share(store_db, nickname="gone")

    with pytest.raises(WrongToken) as refused:
        leaderboard.delete(kept.id, gone.delete_token, database=store_db)
    assert "\n" not in str(refused.value) and str(refused.value).startswith("token: wrong")
    near_miss = kept.delete_token[:-1] + ("A" if kept.delete_token[-1] != "A" else "B")
    with pytest.raises(WrongToken):
        leaderboard.delete(kept.id, near_miss, database=store_db)
    assert row_count(store_db) == 2

    leaderboard.delete(gone.id, gone.delete_token, database=store_db)
    assert [e.nickname for e in leaderboard.top(database=store_db)] == ["kept"]
    with pytest.raises(NoSuchEntry):
        leaderboard.delete(gone.id, gone.delete_token, database=store_db)
    leaderboard.delete(kept.id, f"  {kept.delete_token}\n", database=store_db)  # pasted
    assert row_count(store_db) == 0


@pytest.mark.parametrize(("entry_id", "token", "field"), [
    (0, "t", "entry_id"), (True, "t", "entry_id"), ("1", "t", "entry_id"),
    (1, "", "token"), (1, "x" * 201, "token"), (1, None, "token"),
])
def test_a_malformed_delete_is_refused(store_db, entry_id, token, field):
    share(store_db)
    with pytest.raises(InvalidEntry, match=rf"^{field}: got "):
        leaderboard.delete(entry_id, token, database=store_db)
    assert row_count(store_db) == 1


def test_the_token_is_stored_only_as_its_hash(store_db):
    entry = share(store_db)
    everything = _every_stored_byte(store_db)
    assert entry.delete_token.encode() not in everything
    assert len(entry.delete_token) >= 43  # 32 random bytes
    with store_db.engine.connect() as connection:
        stored = connection.execute(text("SELECT delete_token_hash FROM style_shares")
                                    ).scalar_one()
    assert stored == hashlib.sha256(entry.delete_token.encode()).hexdigest()


# === Nothing lost ===

def test_twenty_concurrent_shares_all_land_once(store_db):
    outcomes = run_at_once(20, lambda i: share(store_db, nickname=f"sharer {i}",
                                               client=f"10.1.0.{i}", probability=i / 20))
    assert all(isinstance(o, store.SharedEntry) for o in outcomes), outcomes
    assert len({o.id for o in outcomes}) == 20
    entries = leaderboard.top(limit=100, database=store_db)
    assert Counter(e.nickname for e in entries) == Counter(f"sharer {i}" for i in range(20))
    assert row_count(store_db) == 20


def test_a_share_that_fails_after_its_insert_leaves_no_row(store_db):
    def fail_after_insert(mapper, connection, target):
        raise RuntimeError("injected: the server went away after the INSERT")

    event.listen(StyleShare, "after_insert", fail_after_insert)
    try:
        with pytest.raises(RuntimeError, match="injected"):
            share(store_db, nickname="half")
    finally:
        event.remove(StyleShare, "after_insert", fail_after_insert)
    assert row_count(store_db) == 0
    # The failed transaction released its locks: the same client shares at once.
    share(store_db, nickname="whole")
    assert [e.nickname for e in leaderboard.top(database=store_db)] == ["whole"]


def test_a_share_that_fails_at_commit_leaves_no_row(store_db, monkeypatch):
    from sqlalchemy.orm import Session

    def fail_commit(session):
        raise RuntimeError("injected: commit failed")

    event.listen(Session, "before_commit", fail_commit)
    try:
        with pytest.raises(RuntimeError, match="injected"):
            share(store_db)
    finally:
        event.remove(Session, "before_commit", fail_commit)
    assert row_count(store_db) == 0


# === Thumbnails ===

def _jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    exif[0x0110] = "Camera model"
    exif[0x0112] = 6  # orientation: rotate 90 degrees to show
    exif[0x8825] = {1: "N", 2: (52.0, 22.0, 1.5), 3: "E", 4: (4.0, 53.0, 2.0)}  # GPS
    return _jpeg(photo(600, 800), exif=exif.tobytes(), comment=b"shot at home")


def test_the_thumbnail_is_small_and_carries_no_exif_or_gps(store_db):
    upload = _jpeg_with_gps()
    assert Image.open(io.BytesIO(upload)).getexif().get_ifd(0x8825)  # the input does have GPS
    share(store_db, thumbnail=upload)
    with store_db.engine.connect() as connection:
        stored = bytes(connection.execute(text("SELECT thumbnail FROM style_shares")).scalar_one())
    thumbnail = Image.open(io.BytesIO(stored))
    assert thumbnail.format == "JPEG"
    assert thumbnail.size == (120, 160)  # 800 x 600, turned upright by its orientation tag
    assert len(thumbnail.getexif()) == 0
    assert b"Exif" not in stored and b"Camera maker" not in stored
    assert b"shot at home" not in stored
    assert not {"exif", "icc_profile", "xmp", "comment"} & set(thumbnail.info)


@pytest.mark.parametrize("kind", ["png-with-text", "rgba-array", "pil-image", "grey-array"])
def test_every_kind_of_picture_becomes_a_clean_jpeg(store_db, kind):
    from PIL import PngImagePlugin

    if kind == "png-with-text":
        meta = PngImagePlugin.PngInfo()
        meta.add_text("Location", "52.37N 4.89E")
        out = io.BytesIO()
        Image.fromarray(photo(100, 400)).save(out, format="PNG", pnginfo=meta)
        picture = out.getvalue()
    elif kind == "rgba-array":
        picture = np.dstack([photo(100, 400), np.full((100, 400), 128, np.uint8)])
    elif kind == "pil-image":
        picture = Image.fromarray(photo(100, 400))
        picture.info["exif"] = _jpeg_with_gps()  # junk metadata riding on the image object
    else:
        picture = photo(100, 400)[:, :, 0]
    share(store_db, thumbnail=picture)
    [entry] = leaderboard.top(database=store_db)
    thumbnail = Image.open(io.BytesIO(entry.thumbnail))
    assert (thumbnail.format, thumbnail.mode, thumbnail.size) == ("JPEG", "RGB", (160, 40))
    assert b"52.37N" not in entry.thumbnail and b"Exif" not in entry.thumbnail


# === Settings (no database) ===

def test_the_data_dir_prefers_the_variable_then_a_space_then_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv(settings.ENV_DATA_DIR, str(tmp_path / "mine"))
    assert settings.data_dir() == tmp_path / "mine"

    monkeypatch.delenv(settings.ENV_DATA_DIR)
    space_data = tmp_path / "data"
    space_data.mkdir()
    # The folder is found by data_folder, the home models/ shares; settings keeps its names.
    monkeypatch.setattr(data_folder, "SPACE_DATA_DIR", space_data)
    monkeypatch.setenv("SPACE_ID", "someone/instavis")
    assert settings.data_dir() == space_data

    monkeypatch.setattr(data_folder, "SPACE_DATA_DIR", tmp_path / "no-persistent-storage")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert settings.data_dir() == tmp_path / "xdg" / "instavis"

    monkeypatch.delenv("SPACE_ID")
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert settings.data_dir() == tmp_path / "home" / ".local" / "share" / "instavis"


def test_the_default_database_is_a_sqlite_file_in_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv(settings.ENV_DATABASE_URL, raising=False)
    monkeypatch.setenv(settings.ENV_DATA_DIR, str(tmp_path / "new" / "folder"))
    url = settings.database_url()
    assert url.get_backend_name() == "sqlite"
    assert url.database == str(tmp_path / "new" / "folder" / "instavis.sqlite3")
    database = store.open_database()
    try:
        assert (tmp_path / "new" / "folder" / "instavis.sqlite3").is_file()
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one() >= 1000
    finally:
        database.close()


@pytest.mark.parametrize(("given", "expected"), [
    ("postgres://u:pw@db.example/prod", "postgresql+psycopg://u:***@db.example/prod"),
    ("postgresql://u@/prod?host=/run/pg", "postgresql+psycopg://u@/prod?host=%2Frun%2Fpg"),
    ("postgresql+psycopg://u@h/prod", "postgresql+psycopg://u@h/prod"),
    ("sqlite:////srv/instavis.sqlite3", "sqlite:////srv/instavis.sqlite3"),
])
def test_database_urls_are_read_as_psycopg_or_sqlite(monkeypatch, given, expected):
    monkeypatch.setenv(settings.ENV_DATABASE_URL, given)
    assert settings.database_url().render_as_string(hide_password=True) == expected


@pytest.mark.parametrize("given", ["mysql://u:secret@h/db", "postgresql+psycopg2://u:secret@h/d",
                                   "sqlite://", "sqlite:///:memory:", "not a url"])
def test_unusable_database_urls_are_refused_without_the_password(monkeypatch, given):
    monkeypatch.setenv(settings.ENV_DATABASE_URL, given)
    with pytest.raises(store.BadSetting) as refused:
        settings.database_url()
    assert str(refused.value).startswith("$INSTAVIS_DATABASE_URL: got ")
    assert "secret" not in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize(("raw", "expected"), [("", 5), ("12", 12), ("0", None), ("x", None)])
def test_shares_per_minute_comes_from_the_environment(monkeypatch, raw, expected):
    monkeypatch.setenv(settings.ENV_SHARES_PER_MINUTE, raw)
    if expected is None:
        with pytest.raises(store.BadSetting, match=r"^\$INSTAVIS_SHARES_PER_MINUTE: got"):
            settings.shares_per_minute()
    else:
        assert settings.shares_per_minute() == expected
