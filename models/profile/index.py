"""Similar profiles: a reference index of good profiles, and the nearest ones to a feed.

`python -m models.profile index DIR` reads DIR/<profile>/<photo files> (one subfolder per
profile, its photos in posting order by file name, the first 30 used), measures every photo as
`check` does (palette, tones and, with the CLIP weights, the embedding) and stores, under
`$INSTAVIS_DATA_DIR/profile/index/`:

- `index.json`: each profile's name, photo count, descriptor, palette and grid file, and
  whether the index holds CLIP embeddings;
- `embeddings.npy`: each profile's mean CLIP embedding (unit length), when CLIP was here;
- `grids/<n>.png`: each profile's grid (`models.profile.grid`), as the tab shows it.

**The descriptor** of a feed is what makes two grids look alike at a glance: its mean colour
(the share-weighted mean of its photos' palettes, in Lab), mean brightness (EV), contrast
(L*), saturation (C*ab) and colour temperature (mireds). Two descriptors are compared in
units of a just-visible difference (`DESCRIPTOR_SCALES`), so that 1 means "about one visible
step" whatever the measure:

    distance = sqrt(sum(((a - b) / scale) ^ 2)) [+ CONTENT_STEPS x (1 - cosine of the mean CLIP
               embeddings), when both sides have them].

Nothing here is learned, so a profile's nearest neighbour is itself (distance 0).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.profile import measures
from models.profile.feed import PhotoReading

DESCRIPTOR_NAMES = ("L*", "a*", "b*", "brightness", "contrast", "saturation", "temperature")
DESCRIPTOR_SCALES = np.array([5.0, 5.0, 5.0, 0.3, 4.0, 5.0, 15.0])
"""One visible step of each descriptor part: 5 Delta E per Lab axis, 0.3 EV, 4 L* of
contrast, 5 C*ab of saturation, 15 mireds of white balance."""
CONTENT_STEPS = 10.0
"""Steps of distance one unit of (1 - cosine) adds: two feeds of unrelated subjects (cosine
0.5) are 5 steps apart on content alone."""
NEIGHBOURS = 3
INDEX_VERSION = 1
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


class ProfileIndexError(ValueError):
    """The folder cannot be indexed, or the index cannot be read; the message is one line."""


def default_index_dir() -> Path:
    """`$INSTAVIS_DATA_DIR/profile/index`, the data folder found as the store finds it."""
    from data_folder import data_dir

    return data_dir() / "profile" / "index"


def descriptor(photos: Sequence[PhotoReading] | Sequence[tuple[measures.Palette,
                                                                 measures.Tones]]
               ) -> np.ndarray:
    """The feed's 7-number descriptor (module docstring) from its photos' palettes and tones."""
    pairs = [(p.palette, p.tones) if isinstance(p, PhotoReading) else p for p in photos]
    colour = np.mean([(palette.lab * palette.shares[:, None]).sum(axis=0)
                      for palette, _ in pairs], axis=0)
    tones = np.array([(t.brightness_ev, t.contrast, t.saturation, t.temperature_mired)
                      for _, t in pairs]).mean(axis=0)
    return np.concatenate([colour, tones])


def mean_embedding(embeddings: Sequence[np.ndarray | None]) -> np.ndarray | None:
    if not embeddings or any(e is None for e in embeddings):
        return None
    mean = np.mean(np.stack(embeddings), axis=0)
    return mean / max(np.linalg.norm(mean), 1e-12)


@dataclass(frozen=True)
class IndexedProfile:
    name: str
    photos: int
    descriptor: np.ndarray
    palette: tuple[str, ...]
    grid: Path
    embedding: np.ndarray | None = None


@dataclass(frozen=True)
class Neighbour:
    """One similar profile.

    Attributes:
        profile: the indexed profile.
        distance: in visible steps (module docstring).
        shared: the measures it shares with the feed, in words with both values.
    """

    profile: IndexedProfile
    distance: float
    shared: tuple[str, ...]


def _feed_photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)[:30]


def build_index(data: Path, out: Path | None = None, *,
                say: Callable[[str], None] = print) -> Path:
    """Index every profile subfolder of `data` into `out` (default `default_index_dir()`).

    Returns:
        The index folder.

    Raises:
        ProfileIndexError: `data` is not a folder, or no subfolder holds 3 readable photos.
    """
    from models.images import InvalidImage, judged_copy, prepare_photo
    from models.profile.grid import draw_grid

    data = Path(data)
    if not data.is_dir():
        raise ProfileIndexError(f"{data} is not a folder; give one subfolder per profile.")
    out = Path(out) if out is not None else default_index_dir()
    folders = sorted(p for p in data.iterdir() if p.is_dir())
    if not folders:
        raise ProfileIndexError(f"{data} has no subfolders; give one subfolder per profile, "
                          "holding its photos.")
    from models.aesthetic.content import content_available

    with_clip = content_available()
    (out / "grids").mkdir(parents=True, exist_ok=True)
    entries, embeddings = [], []
    for folder in folders:
        images = []
        for path in _feed_photos(folder):
            try:
                images.append(judged_copy(prepare_photo(path).image))
            except InvalidImage as problem:
                say(f"skipped {folder.name}/{path.name}: {problem}")
        if len(images) < 3:
            say(f"skipped profile {folder.name}: {len(images)} readable photos, 3 needed")
            continue
        pairs = [(measures.palette(image), measures.tones(image)) for image in images]
        embedding = None
        if with_clip:
            from models import clip

            embedding = mean_embedding(list(clip.embed_images(images)))
            embeddings.append(embedding)
        number = len(entries)
        grid_file = f"grids/{number}.png"
        from PIL import Image

        Image.fromarray(draw_grid(images[:9], numbered=False, tile_width=120)).save(
            out / grid_file)
        from models.profile.advice import feed_palette_hex

        readings = [PhotoReading(i + 1, "", image, palette, tone, 1.0, 0.0)
                    for i, (image, (palette, tone)) in enumerate(zip(images, pairs,
                                                                     strict=True))]
        entries.append({"name": folder.name, "photos": len(images),
                        "descriptor": descriptor(pairs).tolist(),
                        "palette": feed_palette_hex(readings), "grid": grid_file})
        say(f"indexed {folder.name}: {len(images)} photos")
    if not entries:
        raise ProfileIndexError(f"No profile in {data} has 3 readable photos.")
    index = {"version": INDEX_VERSION, "clip": with_clip, "profiles": entries}
    (out / "index.json").write_text(json.dumps(index, indent=1))
    if with_clip:
        np.save(out / "embeddings.npy", np.stack(embeddings).astype(np.float32))
    elif (out / "embeddings.npy").exists():
        os.remove(out / "embeddings.npy")
    return out


def load_index(folder: Path | None = None) -> list[IndexedProfile] | None:
    """The indexed profiles, or None when no index was built here."""
    folder = Path(folder) if folder is not None else default_index_dir()
    path = folder / "index.json"
    if not path.is_file():
        return None
    try:
        index = json.loads(path.read_text())
        embeddings = (np.load(folder / "embeddings.npy", allow_pickle=False)
                      if index.get("clip") else None)
        return [IndexedProfile(entry["name"], int(entry["photos"]),
                               np.asarray(entry["descriptor"], np.float64),
                               tuple(entry["palette"]), folder / entry["grid"],
                               None if embeddings is None else embeddings[i])
                for i, entry in enumerate(index["profiles"])]
    except (OSError, ValueError, KeyError, IndexError, TypeError) as problem:
        raise ProfileIndexError(f"The profile index in {folder} cannot be read ({problem}); "
                          "build it again with `python -m models.profile index DIR`.") from None


def distance(a: np.ndarray, b: np.ndarray, a_embedding: np.ndarray | None = None,
             b_embedding: np.ndarray | None = None) -> float:
    steps = float(np.sqrt((((a - b) / DESCRIPTOR_SCALES) ** 2).sum()))
    if a_embedding is not None and b_embedding is not None:
        steps += CONTENT_STEPS * (1 - float(np.dot(a_embedding, b_embedding)))
    return steps


def _shared(a: np.ndarray, b: np.ndarray) -> tuple[str, ...]:
    """The descriptor parts within one visible step, in words."""
    shared = []
    colour_gap = float(np.linalg.norm(a[:3] - b[:3]))
    if colour_gap <= DESCRIPTOR_SCALES[0] * np.sqrt(3):
        shared.append(f"overall colour (Delta E {colour_gap:.0f} apart)")
    words = (("brightness", "EV", 1), ("contrast", "L*", 0), ("saturation", "C*", 0))
    for offset, (name, unit, digits) in enumerate(words, start=3):
        if abs(a[offset] - b[offset]) <= DESCRIPTOR_SCALES[offset]:
            shared.append(f"{name} ({a[offset]:.{digits}f} {unit} here, "
                          f"{b[offset]:.{digits}f} there)")
    if abs(a[6] - b[6]) <= DESCRIPTOR_SCALES[6]:
        shared.append(f"white balance ({1e6 / a[6]:.0f} K here, {1e6 / b[6]:.0f} K there)")
    return tuple(shared)


def nearest(photos: Sequence[PhotoReading], profiles: Sequence[IndexedProfile],
            count: int = NEIGHBOURS) -> list[Neighbour]:
    """The `count` indexed profiles nearest to the feed of `photos`, nearest first."""
    mine = descriptor(photos)
    my_embedding = mean_embedding([p.embedding for p in photos])
    ranked = sorted(((distance(mine, p.descriptor, my_embedding, p.embedding), i)
                     for i, p in enumerate(profiles)))
    return [Neighbour(profiles[i], gap, _shared(mine, profiles[i].descriptor))
            for gap, i in ranked[:count]]
