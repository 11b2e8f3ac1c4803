"""The Tags gallery's search at 10,000 photos, against the 50 ms budget a query.

`search_timings(url)` fills an empty database with generated photos, then times
`store.gallery.search` the way the Tags tab calls it (the first page of 24): for one, two and
three tags, and unfiltered (newest first). It also returns the plan the database makes for the
three-tag search, to show that the tag filter reads gallery_tags' (tag, photo_id) key rather
than the whole table.

The photos are tiny JPEGs (the search never decodes one), inserted in bulk through the store's
own tables (`store.tables`), many rows a statement, so 10,000 take seconds rather than the
minutes 10,000 separate posts would. Their tags are mixes of MIRFLICKR-25K's 24 concepts, each
drawn with roughly its share of that dataset's annotations (people and structures in about 4
photos of 10, baby in 1 of 100), plus the concepts a drawn one implies (a dog is an animal,
clouds are sky, a sea is water), so a photo has 3 or 4 tags and they overlap as real ones do.
The searched tags are the commonest: a tag search reads every key entry of each of its tags,
so they are the heaviest case.

Run it: `python -m benchmarks.gallery_search [--url URL]` (default: a temporary SQLite file).
For a PostgreSQL server, `--throwaway-schema` runs in a fresh schema dropped afterwards.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

QUERY_BUDGET_MS = 50.0
PER_PAGE = 24

CONCEPT_SHARE = {
    "animals": 0.12, "baby": 0.01, "bird": 0.03, "car": 0.05, "clouds": 0.15, "dog": 0.03,
    "female": 0.20, "flower": 0.07, "food": 0.04, "indoor": 0.33, "lake": 0.03, "male": 0.18,
    "night": 0.11, "people": 0.45, "plant_life": 0.33, "portrait": 0.12, "river": 0.04,
    "sea": 0.05, "sky": 0.32, "structures": 0.40, "sunset": 0.05, "transport": 0.10,
    "tree": 0.18, "water": 0.14,
}
"""Each MIRFLICKR-25K concept's rough share of the dataset's photos, implied ones included."""
CONCEPTS = tuple(CONCEPT_SHARE)

IMPLIES = {
    "baby": ("people",), "female": ("people",), "male": ("people",), "portrait": ("people",),
    "bird": ("animals",), "dog": ("animals",), "car": ("transport",), "clouds": ("sky",),
    "sunset": ("sky",), "lake": ("water",), "river": ("water",), "sea": ("water",),
    "flower": ("plant_life",), "tree": ("plant_life",),
}
"""A concept, and the broader ones a photo with it also has (as MIRFLICKR's annotators tag)."""


def _own_chances() -> dict[str, float]:
    """The chance to draw each concept for itself, so that with what other concepts imply its
    share comes out as CONCEPT_SHARE says: a broader concept is drawn only to make up what its
    narrower ones do not already bring."""
    chances = dict(CONCEPT_SHARE)
    for broad in set(b for implied in IMPLIES.values() for b in implied):
        none_narrower = 1.0
        for narrow, implied in IMPLIES.items():
            if broad in implied:
                none_narrower *= 1.0 - CONCEPT_SHARE[narrow]
        chances[broad] = max(0.0, (CONCEPT_SHARE[broad] - (1.0 - none_narrower)) / none_narrower)
    return chances


OWN_CHANCE = _own_chances()

QUERIES = {
    "one tag": ("people",),
    "two tags": ("people", "structures"),
    "three tags": ("people", "structures", "sky"),
    "newest first": (),
}
"""Each kind of query timed, and the tags it searches for."""


def photo_tags(rng: random.Random) -> tuple[str, ...]:
    """One photo's tags: each concept drawn with its share, then what those imply; never none."""
    tags = {concept for concept, chance in OWN_CHANCE.items() if rng.random() < chance}
    if not tags:
        tags.add(rng.choices(CONCEPTS, weights=list(CONCEPT_SHARE.values()))[0])
    for concept in list(tags):
        tags.update(IMPLIES.get(concept, ()))
    return tuple(sorted(tags))


def _tiny_jpegs(count: int = 16) -> list[bytes]:
    """A few distinct 8 x 8 JPEGs, made by the store's own encoder."""
    from PIL import Image

    from store.thumbnails import encode_jpeg

    rng = random.Random(1)
    return [encode_jpeg(Image.new("RGB", (8, 8), tuple(rng.randrange(256) for _ in range(3))))
            for _ in range(count)]


def fill(database, photos: int, *, seed: int = 0, chunk: int = 1000) -> int:
    """Insert `photos` generated photos and their tags into an empty gallery; return the
    number of tag rows. Newer photos have higher ids, one every 4 minutes up to now."""
    from sqlalchemy import func, insert, select

    from store.tables import GalleryPhoto, GalleryTag

    with database.read() as session:
        already = session.scalar(select(func.count()).select_from(GalleryPhoto))
    if already:
        raise ValueError(f"url: the gallery already holds {already} photos; "
                         "expected an empty database")
    rng = random.Random(seed)
    jpegs = _tiny_jpegs()
    newest = database.clock()
    tag_rows = 0
    for start in range(0, photos, chunk):
        indices = range(start, min(start + chunk, photos))
        rows = [dict(created_at=newest - timedelta(minutes=4 * (photos - 1 - index)),
                     width=8, height=8, delete_token_hash=f"{index:064x}",
                     client_key_hash=f"{index % 50:064x}", thumbnail=jpegs[index % len(jpegs)],
                     image=jpegs[index % len(jpegs)]) for index in indices]
        with database.write() as session:
            ids = session.scalars(
                insert(GalleryPhoto).returning(GalleryPhoto.id, sort_by_parameter_order=True),
                rows).all()
            tags = [{"tag": tag, "photo_id": photo_id}
                    for photo_id in ids for tag in photo_tags(rng)]
            session.execute(insert(GalleryTag), tags)
            tag_rows += len(tags)
    return tag_rows


def _analyze(database) -> None:
    """PostgreSQL: VACUUM ANALYZE the gallery, as autovacuum soon would after a bulk load, so
    the planner has statistics and index-only scans are possible. SQLite keeps no statistics
    unless told to, and the app never tells it, so it is left as it is."""
    if database.dialect != "postgresql":
        return
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE gallery_photos")
        connection.exec_driver_sql("VACUUM ANALYZE gallery_tags")


def query_plans(database, run) -> list[str]:
    """The plans of the SELECTs on gallery_tags that `run()` sends, one text per statement
    (SQLite: EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN), each headed by its statement's first
    line. The statements are caught as sent, so this is the plan of the store's real query."""
    from sqlalchemy import event

    sent: list[tuple[str, object]] = []

    def catch(_connection, _cursor, statement, parameters, _context, _executemany) -> None:
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
                lines = [row[3] for row in cursor.fetchall()]
            else:
                cursor.execute("EXPLAIN " + statement, parameters)
                lines = [row[0] for row in cursor.fetchall()]
            first = " ".join(statement.split())[:90]
            plans.append("\n".join([f"-- {first}...", *lines]))
        raw.rollback()
    finally:
        raw.close()
    return plans


def uses_tag_index(plan: str) -> bool:
    """Whether a plan reads gallery_tags through an index and never scans the table whole.

    SQLite says SEARCH for a range of an index (or of the key) and SCAN for a full pass;
    PostgreSQL says Index Scan, Index Only Scan or Bitmap Index Scan, or Seq Scan.
    """
    reads = [line.strip().lstrip("->").strip() for line in plan.splitlines()
             if "gallery_tags" in line and "Scan" in line or line.lstrip().startswith(
                 ("SEARCH gallery_tags", "SCAN gallery_tags"))]
    return bool(reads) and not any(read.startswith(("SCAN gallery_tags", "Seq Scan"))
                                   for read in reads)


def median_ms(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def search_timings(url: str, photos: int = 10_000, repeats: int = 20) -> dict:
    """Fill an empty database at `url` with `photos` generated photos and time the gallery's
    search on it.

    Returns:
        A dict:
        - "engine": "sqlite" or "postgresql"; "photos": the photos; "tag_rows": their tags;
          "fill_seconds": how long the bulk insert took;
        - "median_ms": query kind -> median milliseconds of `repeats` warm runs of
          `search(tags, page=1, per_page=24)`, for the kinds "one tag", "two tags",
          "three tags" and "newest first";
        - "tags": query kind -> the tags searched; "matches": query kind -> photos matched;
        - "plan": the query plans of the three-tag search's statements on gallery_tags, as
          text; "index_used": whether every one of them reads gallery_tags by an index.

    Raises:
        ValueError: the database already holds gallery photos.
    """
    import store
    from store import gallery

    database = store.open_database(url)
    try:
        started = time.perf_counter()
        tag_rows = fill(database, photos)
        fill_seconds = time.perf_counter() - started
        _analyze(database)

        timings: dict[str, float] = {}
        matches: dict[str, int] = {}
        for kind, tags in QUERIES.items():
            def run(tags=tags):
                return gallery.search(list(tags), page=1, per_page=PER_PAGE, database=database)

            matches[kind] = run().total  # warm: the statement cache, the pages in memory
            timings[kind] = median_ms(run, repeats)
        plans = query_plans(database, lambda: gallery.search(
            list(QUERIES["three tags"]), page=1, per_page=PER_PAGE, database=database))
        plan = "\n".join(plans)
        return {
            "engine": database.dialect, "photos": photos, "tag_rows": tag_rows,
            "fill_seconds": fill_seconds, "median_ms": timings, "tags": dict(QUERIES),
            "matches": matches, "plan": plan,
            "index_used": bool(plans) and all(uses_tag_index(p) for p in plans),
        }
    finally:
        database.close()


def print_table(result: dict) -> None:
    print(f"{result['engine']}: {result['photos']:,} photos, {result['tag_rows']:,} tags, "
          f"inserted in {result['fill_seconds']:.1f} s")
    print(f"{'query':<14}{'tags':<32}{'matches':>8}{'ms':>8}{'budget':>8}{'ratio':>7}")
    for kind, ms in result["median_ms"].items():
        tags = ", ".join(result["tags"][kind]) or "(none)"
        verdict = "within budget" if ms <= QUERY_BUDGET_MS else "OVER BUDGET"
        print(f"{kind:<14}{tags:<32}{result['matches'][kind]:>8,}{ms:>8.1f}"
              f"{QUERY_BUDGET_MS:>8.0f}{ms / QUERY_BUDGET_MS:>7.2f}  {verdict}")
    print(f"plan of the three-tag search (tag index used: "
          f"{'yes' if result['index_used'] else 'NO'}):")
    print(result["plan"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gallery_search",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="an empty database's URL (default: a temporary SQLite "
                                      "file)")
    parser.add_argument("--throwaway-schema", action="store_true",
                        help="PostgreSQL: work in a fresh schema of --url, dropped afterwards")
    parser.add_argument("--photos", type=int, default=10_000, help="default %(default)s")
    parser.add_argument("--repeats", type=int, default=20, help="runs per figure (median)")
    args = parser.parse_args(argv)
    if args.photos < 1 or args.repeats < 1:
        parser.error("--photos and --repeats must be 1 or more")

    with tempfile.TemporaryDirectory() as folder:
        if args.url is None:
            print_table(search_timings(f"sqlite:///{Path(folder) / 'gallery.sqlite3'}",
                                       args.photos, args.repeats))
        elif args.throwaway_schema:
            from benchmarks.stand_ins.postgres import throwaway_schema

            with throwaway_schema(args.url, prefix="instavis_bench") as url:
                print_table(search_timings(url.render_as_string(hide_password=False),
                                           args.photos, args.repeats))
        else:
            print_table(search_timings(args.url, args.photos, args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
