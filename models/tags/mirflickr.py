"""MIRFLICKR-25K, read from the folders its release unpacks to.

Huiskes and Lew (2008), "The MIR Flickr Retrieval Evaluation": 25,000 Flickr photos, each
annotated with any of 24 concepts. The research (`../shared/seeds/003_*`, "Social Image
Description Platform") trained its tagger on them. The release unpacks to

    DIR/mirflickr/im1.jpg ... im25000.jpg
    DIR/mirflickr25k_annotations_v080/<concept>.txt      every photo showing the concept
    DIR/mirflickr25k_annotations_v080/<concept>_r1.txt   only those where it is salient

each annotation file holding one photo number a line. `read_dataset(DIR)` reads that into a
`Dataset`: the photos by number and a photos x concepts 0/1 matrix. Nothing here opens a photo
(the cache decodes them and logs the ones that do not decode) or imports more than numpy. The
24 concepts themselves are the tagger's vocabulary (`models.tags.vocabulary.CONCEPTS`), which
the judgement uses without this reader.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.tags.vocabulary import CONCEPTS

__all__ = ["ANNOTATIONS", "CONCEPTS", "Dataset", "DatasetError", "read_dataset"]

ANNOTATIONS = ("all", "relevant")
"""`all`: <concept>.txt, every photo showing the concept. `relevant`: <concept>_r1.txt, only
the photos where annotators found it salient (the release has such a file for some concepts)."""

PHOTOS_FOLDER = "mirflickr"
ANNOTATIONS_FOLDER = "mirflickr25k_annotations_v080"
RELEVANT_SUFFIX = "_r1"

_PHOTO_NAME = re.compile(r"im([0-9]+)\.jpg")
_NUMBER = re.compile(r"[0-9]+")


class DatasetError(ValueError):
    """The folder is not MIRFLICKR-25K as released; the message is one line saying what was
    expected where."""


@dataclass(frozen=True)
class Dataset:
    """MIRFLICKR-25K photos and their concepts.

    Attributes:
        photos: every `im<N>.jpg`, ordered by N.
        labels: (len(photos), len(concepts)) uint8, 1 where the photo shows the concept.
        concepts: the label columns, in CONCEPTS' order.
        annotations: "all" or "relevant", which annotation files were read.
        left_out: concepts of CONCEPTS with no column, because their annotation file is
            missing (with "relevant", the concepts that have no _r1 file).
        unknown_lines: annotation lines that named a photo not in the photo folder, ignored.
    """

    photos: tuple[Path, ...]
    labels: np.ndarray
    concepts: tuple[str, ...]
    annotations: str
    left_out: tuple[str, ...] = ()
    unknown_lines: int = field(default=0)

    def __len__(self) -> int:
        return len(self.photos)

    def summary(self) -> str:
        """One line: how many photos, concepts and positives, and what was left out."""
        text = (f"{len(self.photos)} photos, {len(self.concepts)} concepts "
                f"({self.annotations} annotations, {int(self.labels.sum())} positives)")
        if self.left_out:
            text += f"; no {self.annotations} annotations for {', '.join(self.left_out)}"
        if self.unknown_lines:
            text += f"; {self.unknown_lines} annotation lines name no photo and were ignored"
        return text


def read_dataset(data_dir: str | Path, annotations: str = "all") -> Dataset:
    """Read MIRFLICKR-25K's photos and annotations.

    Args:
        data_dir: the folder the release was unpacked in, holding `mirflickr/` and
            `mirflickr25k_annotations_v080/`.
        annotations: "all" reads every concept's `<concept>.txt` (all 24 must be there);
            "relevant" reads the `<concept>_r1.txt` files that exist, leaves the other
            concepts out with a warning and names them in `Dataset.left_out`.

    Returns:
        The `Dataset`, photos ordered by number.

    Raises:
        DatasetError: a folder or annotation file is missing, a line is not a photo number,
            there are no photos, or (relevant) no concept has an _r1 file.
        ValueError: `annotations` is neither "all" nor "relevant".
    """
    if annotations not in ANNOTATIONS:
        raise ValueError(f"annotations: got {annotations!r}; expected 'all' or 'relevant'.")
    data_dir = Path(data_dir)
    photo_dir = data_dir / PHOTOS_FOLDER
    annotation_dir = data_dir / ANNOTATIONS_FOLDER
    if not data_dir.is_dir():
        raise DatasetError(f"{data_dir} is not a folder; expected MIRFLICKR-25K unpacked there "
                           f"({PHOTOS_FOLDER}/ and {ANNOTATIONS_FOLDER}/).")
    for folder, holds in ((photo_dir, "the photos im1.jpg, im2.jpg, ..."),
                          (annotation_dir, "one <concept>.txt of photo numbers per concept")):
        if not folder.is_dir():
            raise DatasetError(f"No folder {folder}: expected {holds} there, as MIRFLICKR-25K "
                               "unpacks.")

    numbered = []
    for path in photo_dir.iterdir():
        match = _PHOTO_NAME.fullmatch(path.name)
        if match and path.is_file():
            numbered.append((int(match.group(1)), path))
    if not numbered:
        raise DatasetError(f"No photos named im<N>.jpg in {photo_dir}.")
    numbered.sort()
    row_of = {number: row for row, (number, _) in enumerate(numbered)}

    suffix = RELEVANT_SUFFIX if annotations == "relevant" else ""
    files = {concept: annotation_dir / f"{concept}{suffix}.txt" for concept in CONCEPTS}
    missing = tuple(concept for concept, path in files.items() if not path.is_file())
    if annotations == "all" and missing:
        raise DatasetError(f"{annotation_dir} has no {_names(missing, '.txt')}; expected one "
                           "file of photo numbers for each of the 24 concepts.")
    concepts = tuple(concept for concept in CONCEPTS if concept not in missing)
    if not concepts:
        raise DatasetError(f"{annotation_dir} has no <concept>_r1.txt file for any concept; "
                           "use annotations 'all'.")
    if missing:
        warnings.warn(f"MIRFLICKR-25K has no relevant (_r1) annotations for {len(missing)} "
                      f"concepts, left out: {', '.join(missing)}.", stacklevel=2)

    labels = np.zeros((len(numbered), len(concepts)), np.uint8)
    unknown = 0
    for column, concept in enumerate(concepts):
        for number in _photo_numbers(files[concept]):
            row = row_of.get(number)
            if row is None:
                unknown += 1
            else:
                labels[row, column] = 1
    if unknown:
        warnings.warn(f"{unknown} MIRFLICKR-25K annotation lines name photos that are not in "
                      f"{photo_dir}; ignored.", stacklevel=2)
    return Dataset(photos=tuple(path for _, path in numbered), labels=labels,
                   concepts=concepts, annotations=annotations, left_out=missing,
                   unknown_lines=unknown)


def _photo_numbers(path: Path) -> list[int]:
    """The photo numbers in one annotation file; blank lines are skipped."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise DatasetError(f"Cannot read {path}: {error.strerror or error}.") from error
    numbers = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if not _NUMBER.fullmatch(line):
            raise DatasetError(f"{path}, line {line_number}: expected a photo number, got "
                               f"{line[:40]!r}.")
        numbers.append(int(line))
    return numbers


def _names(concepts: tuple[str, ...], suffix: str) -> str:
    shown = ", ".join(f"{concept}{suffix}" for concept in concepts[:4])
    more = len(concepts) - 4
    return shown + (f" (and {more} more)" if more > 0 else "")
