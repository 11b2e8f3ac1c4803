"""The Tags gallery's store (`store.gallery`) on real engines: every database test runs on a
SQLite file and on PostgreSQL (the `store_db` and `store_url` fixtures, tests/conftest.py).

Expected values are worked out here from what each test posted (plain Python over the inputs,
or SQL on the tables), never by asking the gallery itself.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import random
from collections import Counter
from datetime import timedelta

import numpy as np
import pytest
from PIL import Image, ImageCms
from sqlalchemy import event, insert, inspect, text

import store
from store import gallery, migrate, settings
from store.errors import InvalidEntry, NoSuchEntry, RateLimited, WrongToken
from store.tables import GalleryPhoto, GalleryTag
from tests.store_engines import run_at_once

MIRFLICKR = ("animals", "baby", "bird", "car", "clouds", "dog", "female", "flower", "food",
             "indoor", "lake", "male", "night", "people", "plant_life", "portrait", "river",
             "sea", "sky", "structures", "sunset", "transport", "tree", "water")


def picture(height: int = 120, width: int = 160, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def post(database, tags=("sky",), image=None, client="10.0.0.1"):
    return gallery.post(picture() if image is None else image, list(tags), client=client,
                        database=database)


def row_counts(database) -> tuple[int, int]:
    """(gallery_photos rows, gallery_tags rows), read with plain SQL."""
    with database.engine.connect() as connection:
        return (connection.execute(text("SELECT count(*) FROM gallery_photos")).scalar_one(),
                connection.execute(text("SELECT count(*) FROM gallery_tags")).scalar_one())


def stored_tags(database, photo_id: int) -> list[str]:
    with database.engine.connect() as connection:
        return sorted(connection.execute(
            text("SELECT tag FROM gallery_tags WHERE photo_id = :id"), {"id": photo_id}
        ).scalars())


def stored_image(database, photo_id: int) -> bytes:
    with database.engine.connect() as connection:
        return bytes(connection.execute(
            text("SELECT image FROM gallery_photos WHERE id = :id"), {"id": photo_id}
        ).scalar_one())


def stepping_clock(database, step_seconds: float = 1.0):
    """Make the database's clock advance by `step_seconds` at each reading; return the start."""
    start = database.clock()
    ticks = itertools.count()
    database.clock = lambda: start + timedelta(seconds=next(ticks) * step_seconds)
    return start


def jpeg(array: np.ndarray, **save) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="JPEG", **save)
    return out.getvalue()


# === Round trips ===

def test_a_post_round_trips(store_db):
    before = store_db.clock()
    # A flat colour, 2000 high and 1500 wide: stored at 768 x 1024, the colour kept.
    flat = np.empty((2000, 1500, 3), dtype=np.uint8)
    flat[:] = (200, 100, 50)
    posted = gallery.post(flat, [" Sky ", "SUNSET", "golden \t hour", "sky", "Café"],
                          client="10.0.0.1", database=store_db)
    after = store_db.clock()

    assert isinstance(posted.id, int) and posted.id >= 1
    entry = gallery.photo(posted.id, database=store_db)
    assert entry.id == posted.id
    assert before <= entry.created_at <= after and entry.created_at.utcoffset() == timedelta(0)
    assert entry.tags == ("café", "golden hour", "sky", "sunset")
    assert (entry.width, entry.height) == (768, 1024)
    assert entry.image == stored_image(store_db, posted.id)
    shown = Image.open(io.BytesIO(entry.image))
    assert (shown.format, shown.mode, shown.size) == ("JPEG", "RGB", (768, 1024))
    assert np.abs(np.asarray(shown, dtype=float).mean(axis=(0, 1)) - (200, 100, 50)).max() < 3

    page = gallery.search(database=store_db)
    assert (page.total, page.page, page.pages) == (1, 1, 1)
    [thumb] = page.photos
    assert (thumb.id, thumb.created_at, thumb.tags) == (posted.id, entry.created_at, entry.tags)
    small = Image.open(io.BytesIO(thumb.thumbnail))
    assert small.format == "JPEG" and small.size == (192, 256)
    assert stored_tags(store_db, posted.id) == ["café", "golden hour", "sky", "sunset"]
    assert gallery.tag_counts(database=store_db) == (
        ("café", 1), ("golden hour", 1), ("sky", 1), ("sunset", 1))


def test_the_token_is_stored_only_as_its_hash(store_db):
    posted = post(store_db)
    with store_db.engine.connect() as connection:
        stored, client_hash = connection.execute(text(
            "SELECT delete_token_hash, client_key_hash FROM gallery_photos")).one()
    assert len(posted.token) >= 43
    assert stored == hashlib.sha256(posted.token.encode()).hexdigest()
    assert client_hash == store_db.client_key_hash("10.0.0.1") and "10.0.0.1" not in client_hash


def test_any_kind_of_picture_is_taken(store_db):
    store_db.shares_per_minute = 100
    out = io.BytesIO()
    Image.fromarray(picture(50, 200)).save(out, format="PNG")
    kinds = {"png bytes": out.getvalue(), "pil image": Image.fromarray(picture(50, 200)),
             "grey array": picture(50, 200)[:, :, 0], "jpeg bytes": jpeg(picture(50, 200))}
    for kind, image in kinds.items():
        entry = gallery.photo(post(store_db, image=image).id, database=store_db)
        stored = Image.open(io.BytesIO(entry.image))
        assert (stored.format, stored.mode, stored.size) == ("JPEG", "RGB", (200, 50)), kind
        assert (entry.width, entry.height) == (200, 50), kind


def test_transparency_is_flattened_on_white(store_db):
    clear = np.zeros((64, 64, 4), dtype=np.uint8)  # black, fully transparent
    entry = gallery.photo(post(store_db, image=clear).id, database=store_db)
    pixels = np.asarray(Image.open(io.BytesIO(entry.image)))
    assert pixels.min() >= 250


# === Paging and search ===

def test_search_pages_newest_first_with_exact_totals(store_db):
    store_db.shares_per_minute = 100
    start = store_db.clock()
    # Seconds after start for each post; two share a time, so the later id goes first.
    offsets = [0, 1, 2, 2, 3, 5, 4]
    ids = []
    for offset in offsets:
        store_db.clock = lambda offset=offset: start + timedelta(seconds=offset)
        ids.append(post(store_db, tags=["sky"]).id)
    newest_first = [photo_id for _, photo_id in
                    sorted(zip(offsets, ids, strict=True), reverse=True)]

    pages = [gallery.search(page=n, per_page=3, database=store_db) for n in (1, 2, 3)]
    assert [[p.id for p in page.photos] for page in pages] == [
        newest_first[0:3], newest_first[3:6], newest_first[6:7]]
    assert all((page.total, page.pages) == (7, 3) for page in pages)
    assert [page.page for page in pages] == [1, 2, 3]
    times = [p.created_at for page in pages for p in page.photos]
    assert times == sorted(times, reverse=True)

    past = gallery.search(page=4, per_page=3, database=store_db)
    assert (past.photos, past.page, past.pages, past.total) == ((), 4, 3, 7)
    past_tagged = gallery.search(["sky"], page=9, per_page=3, database=store_db)
    assert (past_tagged.photos, past_tagged.pages, past_tagged.total) == ((), 3, 7)
    everything = gallery.search(per_page=100, database=store_db)
    assert [p.id for p in everything.photos] == newest_first
    assert (everything.pages, everything.total) == (1, 7)
    exact = gallery.search(per_page=7, database=store_db)
    assert (exact.pages, len(exact.photos)) == (1, 7)


def test_an_empty_gallery_is_one_empty_page(store_db):
    page = gallery.search(database=store_db)
    assert (page.photos, page.page, page.pages, page.total) == ((), 1, 1, 0)
    assert gallery.tag_counts(database=store_db) == ()


def test_search_finds_the_photos_with_all_the_tags(store_db):
    store_db.shares_per_minute = 100
    stepping_clock(store_db)
    tag_sets = [{"sky", "sea"}, {"sky"}, {"sky", "sea", "sunset"}, {"people"},
                {"sea", "sunset"}, {"sky", "sunset", "people"}]
    ids = [post(store_db, tags=sorted(tags)).id for tags in tag_sets]

    def expected(*wanted: str) -> list[int]:
        # Later posts are newer here (the clock steps), so newest first is reversed order.
        return [photo_id for photo_id, tags in reversed(list(zip(ids, tag_sets, strict=True)))
                if set(wanted) <= tags]

    for wanted in (["sky"], ["sky", "sea"], ["sea", "sunset"], ["sky", "sunset"],
                   ["sky", "sea", "sunset"], ["people", "sunset"], ["sunset", "people", "sky"]):
        page = gallery.search(wanted, per_page=100, database=store_db)
        assert [p.id for p in page.photos] == expected(*wanted), wanted
        assert page.total == len(expected(*wanted))
        for thumb in page.photos:
            assert set(thumb.tags) == tag_sets[ids.index(thumb.id)]

    # Normalised as a post is; repeats count once; an unknown tag matches nothing.
    assert [p.id for p in gallery.search(["  SKY ", "Sea"], database=store_db).photos] == \
        expected("sky", "sea")
    assert [p.id for p in gallery.search(["sky", "Sky", "sky"], database=store_db).photos] == \
        expected("sky")
    assert [p.id for p in gallery.search(("sky",), database=store_db).photos] == expected("sky")
    for wanted in (["nothing"], ["sky", "nothing"], ["sky", "sea", "people"]):
        page = gallery.search(wanted, database=store_db)
        assert (page.photos, page.total, page.pages) == ((), 0, 1), wanted
    assert gallery.search(None, database=store_db).total == len(ids)

    # Paging a filtered search.
    sky = expected("sky")
    first, second = (gallery.search(["sky"], page=n, per_page=3, database=store_db)
                     for n in (1, 2))
    assert [p.id for p in first.photos] + [p.id for p in second.photos] == sky
    assert (first.pages, first.total, second.total) == (2, len(sky), len(sky))
    first, second = (gallery.search(["sky", "sunset"], page=n, per_page=1, database=store_db)
                     for n in (1, 2))
    assert [first.photos[0].id, second.photos[0].id] == expected("sky", "sunset")
    assert (first.pages, first.total) == (2, 2)


def test_tag_counts_most_used_first(store_db):
    store_db.shares_per_minute = 100
    tag_sets = [["sky", "sea"], ["sky"], ["sky", "sea", "sunset"], ["people"], ["dog", "sea"]]
    for tags in tag_sets:
        post(store_db, tags=tags)
    counted = Counter(tag for tags in tag_sets for tag in tags)
    expected = tuple(sorted(counted.items(), key=lambda pair: (-pair[1], pair[0])))
    assert gallery.tag_counts(database=store_db) == expected
    assert gallery.tag_counts(database=store_db)[:2] == (("sea", 3), ("sky", 3))


# === Images: no metadata, upright, at most 1024 a side ===

def _jpeg_with_exif_and_gps(height: int, width: int, orientation: int = 1,
                            array: np.ndarray | None = None) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    exif[0x0110] = "Camera model"
    exif[0x0112] = orientation
    exif[0x8825] = {1: "N", 2: (52.0, 22.0, 1.5), 3: "E", 4: (4.0, 53.0, 2.0)}  # GPSInfo
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    if array is None:
        # Smooth content, so the big JPEG stays small and quick to encode.
        rows = np.linspace(0, 255, height, dtype=np.uint8)[:, None, None]
        cols = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]
        array = np.broadcast_to((rows // 2 + cols // 2), (height, width, 3)).copy()
    return jpeg(array, exif=exif.tobytes(), icc_profile=icc, comment=b"shot at home")


def _assert_clean(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    assert len(image.getexif()) == 0 and not image.getexif().get_ifd(0x8825)
    assert not {"exif", "icc_profile", "xmp", "comment", "photoshop"} & set(image.info)
    for marker in (b"Exif", b"Camera maker", b"Camera model", b"shot at home", b"ICC_PROFILE",
                   b"http://ns.adobe.com/xap"):
        assert marker not in data, marker
    return image


def test_the_stored_photo_is_small_and_has_no_exif_or_gps(store_db):
    upload = _jpeg_with_exif_and_gps(2000, 3000)
    given = Image.open(io.BytesIO(upload))
    assert given.getexif().get_ifd(0x8825) and "icc_profile" in given.info  # the input has them
    posted = post(store_db, image=upload)

    stored = _assert_clean(stored_image(store_db, posted.id))
    assert max(stored.size) == 1024 and stored.size[0] > stored.size[1]
    assert abs(stored.size[1] - 2000 * 1024 / 3000) <= 1
    entry = gallery.photo(posted.id, database=store_db)
    assert (entry.width, entry.height) == stored.size
    [thumb] = gallery.search(database=store_db).photos
    assert max(_assert_clean(thumb.thumbnail).size) == 256


def test_a_large_pil_image_and_array_are_shrunk_too(store_db):
    store_db.shares_per_minute = 100
    for image in (Image.new("RGB", (4000, 1000), (10, 200, 30)), picture(1500, 1100)):
        entry = gallery.photo(post(store_db, image=image).id, database=store_db)
        assert max(entry.width, entry.height) == 1024
        assert Image.open(io.BytesIO(entry.image)).size == (entry.width, entry.height)


# EXIF orientation 6: the stored rows are the shown image turned 90 degrees anticlockwise, so
# the stored left column is shown as the top row. 8: the other way, the left column ends at the
# bottom. 3: upside down, the left column ends on the right.
@pytest.mark.parametrize(("orientation", "size", "red_at", "blue_at"), [
    (6, (600, 800), "top", "bottom"),
    (8, (600, 800), "bottom", "top"),
    (3, (800, 600), "right", "left"),
])
def test_exif_orientation_is_applied(store_db, orientation, size, red_at, blue_at):
    halves = np.zeros((600, 800, 3), dtype=np.uint8)
    halves[:, :400] = (255, 0, 0)  # left half red, as stored
    halves[:, 400:] = (0, 0, 255)  # right half blue
    posted = post(store_db, image=_jpeg_with_exif_and_gps(600, 800, orientation, halves))
    stored = _assert_clean(stored_image(store_db, posted.id))
    assert stored.size == size
    pixels = np.asarray(stored.convert("RGB"), dtype=int)
    height, width = pixels.shape[:2]
    spots = {"top": pixels[height // 8, width // 2], "bottom": pixels[-height // 8, width // 2],
             "left": pixels[height // 2, width // 8], "right": pixels[height // 2, -width // 8]}
    assert spots[red_at][0] > 200 and spots[red_at][2] < 60
    assert spots[blue_at][2] > 200 and spots[blue_at][0] < 60


# === Refusals: one line naming the field, and nothing stored ===

def _bomb() -> bytes:
    # 200 megapixels of one colour: a small PNG that would take 200 MB to decode.
    out = io.BytesIO()
    Image.new("1", (20_000, 10_000)).save(out, format="PNG")
    return out.getvalue()


SQL_TAG = "x'); DROP TABLE gallery_tags;--"
BAD_POSTS = [
    # (field, changes); values given as callables are built when the test runs.
    ("tags", {"tags": [f"tag {i}" for i in range(200)]}),
    ("tags", {"tags": [f"tag {i}" for i in range(31)]}),
    ("tags", {"tags": []}),
    ("tags", {"tags": "sky"}),
    ("tags", {"tags": None}),
    ("tags", {"tags": {"sky": 1}}),
    ("tags", {"tags": ["sky"] * 301}),
    ("tags[0]", {"tags": ["x" * 10_000]}),
    ("tags[0]", {"tags": ["x" * 33]}),
    ("tags[3]", {"tags": ["sky", "sea", "sun", SQL_TAG]}),
    ("tags[0]", {"tags": ["<script>alert(1)</script>"]}),
    ("tags[1]", {"tags": ["sky", "<b>"]}),
    ("tags[0]", {"tags": ["a&amp;b"]}),
    ("tags[0]", {"tags": ['"quoted"']}),
    ("tags[0]", {"tags": ["it's"]}),
    ("tags[0]", {"tags": ["sky, sea"]}),
    ("tags[0]", {"tags": ["   "]}),
    ("tags[0]", {"tags": [""]}),
    ("tags[0]", {"tags": [42]}),
    ("tags[0]", {"tags": [None]}),
    ("tags[0]", {"tags": [b"sky"]}),
    ("tags[0]", {"tags": ["ab\x00cd"]}),
    ("tags[0]", {"tags": ["zero\u200bwidth"]}),
    ("tags[0]", {"tags": ["\u0301accent first"]}),
    ("tags[0]", {"tags": ["emoji \U0001f600"]}),
    ("image", {"image": b"certainly not a picture"}),
    ("image", {"image": b""}),
    ("image", {"image": lambda: jpeg(picture())[:400]}),
    ("image", {"image": _bomb}),
    ("image", {"image": "photo.jpg"}),
    ("image", {"image": None}),
    ("image", {"image": np.zeros((8, 8, 3), dtype=np.float32)}),
    ("image", {"image": np.zeros((0, 8, 3), dtype=np.uint8)}),
    ("image", {"image": lambda: Image.open(io.BytesIO(jpeg(picture(600, 800))[:3000]))}),
    ("client", {"client": ""}),
    ("client", {"client": None}),
    ("client", {"client": "x" * 257}),
]


@pytest.mark.parametrize(("field", "changes"), BAD_POSTS,
                         ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD_POSTS)])
def test_a_bad_post_is_refused_in_one_line_and_stores_nothing(store_db, field, changes):
    kept = post(store_db, tags=["kept", "sky"])
    before = row_counts(store_db)
    arguments = {"image": picture(), "tags": ["sky"], "client": "10.0.0.2"}
    arguments.update({key: value() if callable(value) else value
                      for key, value in changes.items()})
    with pytest.raises(InvalidEntry) as refused:
        gallery.post(arguments["image"], arguments["tags"], client=arguments["client"],
                     database=store_db)
    message = str(refused.value)
    assert refused.value.field == field
    assert message.startswith(f"{field}: got ") and "; expected " in message
    assert "\n" not in message and len(message) < 300
    assert row_counts(store_db) == before == (1, 2)
    assert stored_tags(store_db, kept.id) == ["kept", "sky"]
    assert {"gallery_photos", "gallery_tags"} <= set(inspect(store_db.engine).get_table_names())


def test_the_messages_say_what_is_accepted(store_db):
    with pytest.raises(InvalidEntry) as refused:
        post(store_db, tags=["sky", "sea", "sun", SQL_TAG])
    assert str(refused.value) == (
        "tags[3]: got \"x'); DROP TABLE gallery_tags;--\"; expected 1 to 32 letters, digits, "
        "spaces, hyphens or underscores.")
    with pytest.raises(InvalidEntry) as refused:
        post(store_db, tags=[f"t{i}" for i in range(200)])
    assert str(refused.value) == (
        "tags: got 200 tags; expected a list of 1 to 30 tags, each 1 to 32 letters, digits, "
        "spaces, hyphens or underscores.")
    with pytest.raises(InvalidEntry) as refused:
        post(store_db, tags=["x" * 10_000])
    assert str(refused.value).startswith("tags[0]: got 10000 characters ('xxxxxxxxxx")


@pytest.mark.parametrize("tag", ["<script>alert(1)</script>", "<b>", "</b>", "<img src=x>",
                                 "a&lt;b", "x' OR '1'='1"])
def test_html_and_sql_looking_tags_are_refused_everywhere(store_db, tag):
    posted = post(store_db, tags=["sky"])
    with pytest.raises(InvalidEntry, match=r"^tags\[1\]: got "):
        post(store_db, tags=["sea", tag])
    with pytest.raises(InvalidEntry, match=r"^tags\[0\]: got "):
        gallery.edit_tags(posted.id, posted.token, [tag], database=store_db)
    with pytest.raises(InvalidEntry, match=r"^tags\[0\]: got "):
        gallery.search([tag], database=store_db)
    assert row_counts(store_db) == (1, 1)
    assert stored_tags(store_db, posted.id) == ["sky"]


def test_tags_of_any_script_are_letters(store_db):
    tags = ["東京", "Ünïcödé", "हिंदी", "e\u0301te", "Москва", "plant_life", "hi-fi", "2024",
            "ﾊﾝｶｸ"]
    posted = post(store_db, tags=tags)
    expected = sorted({"東京", "ünïcödé", "हिंदी", "\u00e9te", "москва", "plant_life",
                       "hi-fi", "2024", "ﾊﾝｶｸ"})
    assert stored_tags(store_db, posted.id) == expected
    assert [p.id for p in gallery.search(["ÉTE"], database=store_db).photos] == [posted.id]


def test_thirty_distinct_tags_fit_and_repeats_count_once(store_db):
    store_db.shares_per_minute = 100
    thirty = [f"tag {i}" for i in range(30)]
    assert len(stored_tags(store_db, post(store_db, tags=thirty).id)) == 30
    repeated = thirty + [t.upper() for t in thirty] + [f"  {t}  " for t in thirty]
    assert stored_tags(store_db, post(store_db, tags=repeated).id) == sorted(thirty)
    with pytest.raises(InvalidEntry, match=r"^tags: got 31 tags"):
        post(store_db, tags=[*thirty, "one more"])


@pytest.mark.parametrize(("call", "field"), [
    (lambda db: gallery.search(page=0, database=db), "page"),
    (lambda db: gallery.search(page=-1, database=db), "page"),
    (lambda db: gallery.search(page=1.5, database=db), "page"),
    (lambda db: gallery.search(page=True, database=db), "page"),
    (lambda db: gallery.search(page="2", database=db), "page"),
    (lambda db: gallery.search(page=None, database=db), "page"),
    (lambda db: gallery.search(page=10**7, database=db), "page"),
    (lambda db: gallery.search(per_page=0, database=db), "per_page"),
    (lambda db: gallery.search(per_page=101, database=db), "per_page"),
    (lambda db: gallery.search(per_page=2.0, database=db), "per_page"),
    (lambda db: gallery.search("sky", database=db), "tags"),
    (lambda db: gallery.search([f"t{i}" for i in range(31)], database=db), "tags"),
    (lambda db: gallery.search(["sky", None], database=db), "tags[1]"),
    (lambda db: gallery.search(["x" * 10_000], database=db), "tags[0]"),
    (lambda db: gallery.photo(0, database=db), "entry_id"),
    (lambda db: gallery.photo("1", database=db), "entry_id"),
    (lambda db: gallery.photo(True, database=db), "entry_id"),
    (lambda db: gallery.photo(2**63, database=db), "entry_id"),
    (lambda db: gallery.edit_tags(0, "t", ["sky"], database=db), "entry_id"),
    (lambda db: gallery.edit_tags(1, "", ["sky"], database=db), "token"),
    (lambda db: gallery.edit_tags(1, None, ["sky"], database=db), "token"),
    (lambda db: gallery.edit_tags(1, "x" * 201, ["sky"], database=db), "token"),
    (lambda db: gallery.edit_tags(1, "t", [], database=db), "tags"),
    (lambda db: gallery.delete(-3, "t", database=db), "entry_id"),
    (lambda db: gallery.delete(1, "", database=db), "token"),
])
def test_bad_arguments_to_reads_and_changes_are_refused(store_db, call, field):
    posted = post(store_db, tags=["sky", "sea"])
    with pytest.raises(InvalidEntry) as refused:
        call(store_db)
    message = str(refused.value)
    assert refused.value.field == field
    assert message.startswith(f"{field}: got ") and "\n" not in message and len(message) < 300
    assert row_counts(store_db) == (1, 2)
    assert stored_tags(store_db, posted.id) == ["sea", "sky"]


def test_a_missing_photo_is_no_such_entry(store_db):
    posted = post(store_db)
    for call in (lambda: gallery.photo(posted.id + 1, database=store_db),
                 lambda: gallery.edit_tags(posted.id + 1, posted.token, ["x"], database=store_db),
                 lambda: gallery.delete(posted.id + 1, posted.token, database=store_db)):
        with pytest.raises(NoSuchEntry) as missing:
            call()
        assert str(missing.value).startswith(f"Photo {posted.id + 1} does not exist")
    assert row_counts(store_db) == (1, 1)


# === Editing and deleting with the token ===

def test_edit_tags_needs_the_token_and_replaces_them_whole(store_db):
    mine = post(store_db, tags=["sky", "sea"])
    theirs = post(store_db, tags=["dog"], client="10.0.0.9")

    with pytest.raises(WrongToken) as refused:
        gallery.edit_tags(mine.id, theirs.token, ["vandalised"], database=store_db)
    assert str(refused.value) == (f"token: wrong delete token for photo {mine.id}; expected "
                                  "the token shown when it was posted. The photo was kept.")
    near_miss = mine.token[:-1] + ("A" if mine.token[-1] != "A" else "B")
    with pytest.raises(WrongToken):
        gallery.edit_tags(mine.id, near_miss, ["vandalised"], database=store_db)
    with pytest.raises(InvalidEntry, match=r"^tags\[1\]: "):
        gallery.edit_tags(mine.id, mine.token, ["fine", "<b>"], database=store_db)
    assert stored_tags(store_db, mine.id) == ["sea", "sky"]

    entry = gallery.edit_tags(mine.id, f"  {mine.token}\n", ["Sunset", "sky", "SKY"],
                              database=store_db)
    assert (entry.id, entry.tags) == (mine.id, ("sky", "sunset"))
    assert stored_tags(store_db, mine.id) == ["sky", "sunset"]
    assert stored_tags(store_db, theirs.id) == ["dog"]
    assert gallery.search(["sea"], database=store_db).total == 0
    assert [p.id for p in gallery.search(["sunset"], database=store_db).photos] == [mine.id]
    assert gallery.photo(mine.id, database=store_db).tags == ("sky", "sunset")
    assert row_counts(store_db) == (2, 3)


def test_delete_with_the_token_removes_the_photo_and_its_tags(store_db):
    kept = post(store_db, tags=["sky", "sea"])
    gone = post(store_db, tags=["sky", "sunset", "people"], client="10.0.0.9")

    with pytest.raises(WrongToken):
        gallery.delete(gone.id, kept.token, database=store_db)
    assert row_counts(store_db) == (2, 5)
    assert stored_tags(store_db, gone.id) == ["people", "sky", "sunset"]

    gallery.delete(gone.id, gone.token, database=store_db)
    assert row_counts(store_db) == (1, 2)
    assert stored_tags(store_db, gone.id) == []
    assert stored_tags(store_db, kept.id) == ["sea", "sky"]
    with pytest.raises(NoSuchEntry):
        gallery.photo(gone.id, database=store_db)
    with pytest.raises(NoSuchEntry):
        gallery.delete(gone.id, gone.token, database=store_db)
    assert [p.id for p in gallery.search(["sky"], database=store_db).photos] == [kept.id]
    assert gallery.tag_counts(database=store_db) == (("sea", 1), ("sky", 1))


# === Nothing lost, nothing half-stored ===

def test_twenty_concurrent_posts_from_twenty_clients_all_land(store_db):
    outcomes = run_at_once(20, lambda i: post(store_db, tags=["crowd", f"poster {i}"],
                                              image=picture(seed=i), client=f"10.1.0.{i}"))
    assert all(isinstance(o, gallery.PostedPhoto) for o in outcomes), outcomes
    assert len({o.id for o in outcomes}) == 20
    assert row_counts(store_db) == (20, 40)
    crowd = gallery.search(["crowd"], per_page=100, database=store_db)
    assert crowd.total == 20 and {p.id for p in crowd.photos} == {o.id for o in outcomes}
    for i, posted in enumerate(outcomes):
        assert stored_tags(store_db, posted.id) == sorted(["crowd", f"poster {i}"])


def test_quick_posts_from_one_client_hit_the_rate_limit(store_db):
    assert store_db.shares_per_minute == settings.DEFAULT_SHARES_PER_MINUTE == 5
    for i in range(5):
        post(store_db, tags=["sky", f"n{i}"], client="198.51.100.7")
    with pytest.raises(RateLimited) as refused:
        post(store_db, tags=["sky", "sixth"], client="198.51.100.7")
    assert str(refused.value).startswith("Too many posts: at most 5 a minute from one client;")
    assert row_counts(store_db) == (5, 10)
    post(store_db, tags=["sky"], client="203.0.113.9")  # another client is not held up
    assert row_counts(store_db) == (6, 11)


def test_a_post_that_fails_after_its_tags_leaves_nothing(store_db):
    def fail_after_tags(_connection, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO GALLERY_TAGS"):
            raise RuntimeError("injected: the server went away after the tags")

    event.listen(store_db.engine, "after_cursor_execute", fail_after_tags)
    try:
        with pytest.raises(RuntimeError, match="injected"):
            post(store_db, tags=["sky", "sea"])
    finally:
        event.remove(store_db.engine, "after_cursor_execute", fail_after_tags)
    assert row_counts(store_db) == (0, 0)
    post(store_db, tags=["whole"])  # the failed transaction released its locks
    assert row_counts(store_db) == (1, 1)


def test_an_edit_that_fails_midway_keeps_the_old_tags(store_db):
    posted = post(store_db, tags=["sky", "sea"])

    def fail_on_insert(_connection, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO GALLERY_TAGS"):
            raise RuntimeError("injected: failed between delete and insert")

    event.listen(store_db.engine, "before_cursor_execute", fail_on_insert)
    try:
        with pytest.raises(RuntimeError, match="injected"):
            gallery.edit_tags(posted.id, posted.token, ["new"], database=store_db)
    finally:
        event.remove(store_db.engine, "before_cursor_execute", fail_on_insert)
    assert stored_tags(store_db, posted.id) == ["sea", "sky"]


# === The tag index ===

def _fill(database, photos: int, seed: int = 0) -> list[tuple[int, object, set[str]]]:
    """`photos` rows straight into the tables (2,000 posts would take minutes); returns
    (id, created_at, tags) of each."""
    rng = random.Random(seed)
    start = database.clock()
    times = [start - timedelta(seconds=rng.randrange(100_000)) for _ in range(photos)]
    tag_sets = [set(rng.sample(MIRFLICKR, rng.randint(1, 8))) for _ in range(photos)]
    tiny = jpeg(picture(8, 8))
    with database.write() as session:
        ids = session.scalars(
            insert(GalleryPhoto).returning(GalleryPhoto.id, sort_by_parameter_order=True),
            [dict(created_at=when, width=8, height=8, delete_token_hash="0" * 64,
                  client_key_hash="1" * 64, thumbnail=tiny, image=tiny) for when in times],
        ).all()
        session.execute(insert(GalleryTag), [{"tag": tag, "photo_id": photo_id}
                                             for photo_id, tags in zip(ids, tag_sets, strict=True)
                                             for tag in tags])
    return list(zip(ids, times, tag_sets, strict=True))


def _plans_of_tag_reads(database, run) -> list[str]:
    """The plan of each SELECT reading gallery_tags that `run()` sends, as sent. PostgreSQL
    plans with sequential scans off, so a usable index always shows; with none, the table is
    still scanned, and says so."""
    sent = []

    def catch(_connection, _cursor, statement, parameters, *_args) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "gallery_tags" in statement:
            sent.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", catch)
    try:
        run()
    finally:
        event.remove(database.engine, "before_cursor_execute", catch)
    plans = []
    raw = database.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in sent:
            if database.dialect == "sqlite":
                cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                plans.append("\n".join(row[3] for row in cursor.fetchall()))
            else:
                cursor.execute("SET LOCAL enable_seqscan = off")
                cursor.execute("EXPLAIN " + statement, parameters)
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
        raw.rollback()
    finally:
        raw.close()
    return plans


def test_a_tag_search_reads_the_tag_index(store_db):
    photos = _fill(store_db, 2000)
    for wanted, page_number in itertools.product(
            (["sky"], ["sky", "sea"], ["people", "sky", "water"]), (1, 2)):
        matches = [(when, photo_id) for photo_id, when, tags in photos if set(wanted) <= tags]
        expected = [photo_id for _, photo_id in sorted(matches, reverse=True)]
        results = []
        plans = _plans_of_tag_reads(store_db, lambda w=wanted, n=page_number, out=results:
                                    out.append(gallery.search(w, page=n, per_page=24,
                                                              database=store_db)))
        [page] = results
        assert page.total == len(expected)
        assert [p.id for p in page.photos] == expected[24 * (page_number - 1):24 * page_number]
        assert plans, "the search sent no query on gallery_tags"

        # The statements that find the matches (by tag), not the one reading the page's tags.
        by_tag = [plan for plan in plans if "(tag=?)" in plan or "Index Cond: ((tag)" in plan
                  or "Index Cond: (tag " in plan]
        assert by_tag, plans
        for plan in plans:
            if store_db.dialect == "sqlite":
                reads = [line for line in plan.splitlines() if "gallery_tags" in line]
                assert reads and all(line.startswith("SEARCH gallery_tags USING") for line in
                                     reads), plan
            else:
                assert "Seq Scan on gallery_tags" not in plan, plan
                assert any(("Index" in line or "Bitmap" in line) and "gallery_tags" in line
                           for line in plan.splitlines()), plan
        for plan in by_tag:
            if store_db.dialect == "sqlite":
                assert ("USING PRIMARY KEY (tag=?)" in plan
                        or "sqlite_autoindex_gallery_tags" in plan), plan
            else:
                assert "pk_gallery_tags" in plan, plan

    # The page's own tags come from the photo_id index.
    first = gallery.search(["sky"], database=store_db).photos[0]
    assert set(first.tags) == next(tags for photo_id, _, tags in photos if photo_id == first.id)


# === Migrations ===

def test_the_migration_builds_both_tables_with_their_keys(store_db):
    inspector = inspect(store_db.engine)
    assert inspector.get_pk_constraint("gallery_tags")["constrained_columns"] == [
        "tag", "photo_id"]
    [foreign_key] = inspector.get_foreign_keys("gallery_tags")
    assert (foreign_key["referred_table"], foreign_key["constrained_columns"],
            foreign_key["referred_columns"]) == ("gallery_photos", ["photo_id"], ["id"])
    assert foreign_key["options"].get("ondelete") == "CASCADE"
    tag_indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("gallery_tags")}
    assert tag_indexes["ix_gallery_tags_photo_id"] == ["photo_id"]
    photo_indexes = {ix["name"]: ix["column_names"]
                     for ix in inspector.get_indexes("gallery_photos")}
    assert photo_indexes["ix_gallery_photos_newest"] == ["created_at", "id"]
    assert "ix_gallery_photos_client_created" not in photo_indexes  # the limit reads recent_writes
    assert {c["name"] for c in inspector.get_columns("gallery_photos")} == {
        "id", "created_at", "width", "height", "delete_token_hash", "client_key_hash",
        "thumbnail", "image"}


def test_a_deleted_post_still_counts_against_the_limit(store_url):
    database = store.open_database(store_url, shares_per_minute=2)
    try:
        for _ in range(2):
            posted = post(database, client="198.51.100.7")
            gallery.delete(posted.id, posted.token, database=database)
        assert row_counts(database) == (0, 0)
        with pytest.raises(RateLimited, match="Too many posts: at most 2 a minute"):
            post(database, client="198.51.100.7")
        post(database, client="203.0.113.9")  # another client is not held up
    finally:
        database.close()


def test_downgrading_to_before_recent_writes_keeps_the_entries(store_db):
    post(store_db)
    migrate.downgrade_to(store_db.engine, "0002_gallery")
    names = set(inspect(store_db.engine).get_table_names())
    assert "recent_writes" not in names and {"gallery_photos", "style_shares"} <= names
    indexes = {ix["name"] for ix in inspect(store_db.engine).get_indexes("gallery_photos")}
    assert "ix_gallery_photos_client_created" in indexes
    migrate.upgrade_to_head(store_db.engine)
    assert row_counts(store_db) == (1, 1)
    post(store_db, tags=["again"])
    assert row_counts(store_db) == (2, 2)


def test_downgrading_the_gallery_keeps_the_leaderboard(store_db):
    post(store_db)
    migrate.downgrade_to(store_db.engine, "0001_style_shares")
    names = set(inspect(store_db.engine).get_table_names())
    assert {"style_shares", "store_secrets"} <= names
    assert not {"gallery_photos", "gallery_tags"} & names
    migrate.upgrade_to_head(store_db.engine)
    assert migrate.current_revision(store_db.engine) == migrate.head_revision()
    assert migrate.head_revision() == "0003_recent_writes"
    assert row_counts(store_db) == (0, 0)
    post(store_db, tags=["again"])
    assert row_counts(store_db) == (1, 1)


def test_the_default_database_follows_the_environment(store_url, monkeypatch):
    monkeypatch.setenv(settings.ENV_DATABASE_URL, store_url.render_as_string(hide_password=False))
    store.reset_default()
    try:
        posted = gallery.post(picture(), ["sky"], client="c")
        assert [p.id for p in gallery.search(["sky"]).photos] == [posted.id]
        assert gallery.photo(posted.id).tags == ("sky",)
        assert gallery.edit_tags(posted.id, posted.token, ["sea"]).tags == ("sea",)
        assert gallery.tag_counts() == (("sea", 1),)
        gallery.delete(posted.id, posted.token)
        assert gallery.search().total == 0
        assert store.default_database().dialect == store_url.get_backend_name()
    finally:
        store.reset_default()
