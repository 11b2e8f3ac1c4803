"""The odd-photo policy (models.images.prepare_photo, docs/CONTRACTS.md "Odd photos"): one rule
for tiny photos, long strips and transparency, applied the same way by every tab, and a rating
that does not care which way round a photo faces.

Expected crops are worked out by hand from the policy's numbers (3:1, the centre kept), never
with the functions under test.
"""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest
from PIL import Image
from skimage import data, transform

from demos import aesthetic_tab, pose_tab, style_tab
from models import aesthetic
from models.images import InvalidImage, prepare_photo
from models.pose import comparison as pose
from models.style.classify import classify

TINY_MESSAGE = ("the photo is 60 x 40 pixels; InstaVis judges photos with at least 64 pixels "
                "on each side.")


def _numbered_columns(height: int, width: int) -> np.ndarray:
    """A photo whose every column says where it came from: red = column % 256, green =
    column // 256, blue = row % 256."""
    columns = np.arange(width)
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = columns % 256
    image[..., 1] = columns // 256
    image[..., 2] = (np.arange(height) % 256)[:, None]
    return image


@pytest.fixture(scope="module")
def strip() -> np.ndarray:
    """A 4000 x 500 strip of package photos side by side, three of them twice (the shape that
    once rated 10/10, higher than any photo in it)."""
    parts = [data.coffee(), data.chelsea(), data.astronaut()]
    resized = [transform.resize(p, (500, round(p.shape[1] * 500 / p.shape[0])),
                                preserve_range=True, anti_aliasing=True).astype(np.uint8)
               for p in parts]
    row = np.concatenate(resized * 2, axis=1)  # 2 x (750 + 752 + 500) = 4004 columns
    return np.ascontiguousarray(row[:, :4000])


# === The policy itself ===


@pytest.mark.parametrize("shape", [(1, 1), (63, 500), (500, 63)])
def test_a_photo_under_64_pixels_a_side_is_refused_in_one_line(shape):
    with pytest.raises(InvalidImage, match="at least 64 pixels on each side") as caught:
        prepare_photo(np.full((*shape, 3), 128, np.uint8))
    assert f"{shape[1]} x {shape[0]} pixels" in str(caught.value)


def test_a_64_pixel_square_is_judged_whole_with_no_note():
    prepared = prepare_photo(np.full((64, 64, 3), 128, np.uint8))
    assert prepared.image.shape == (64, 64, 3) and prepared.notes() == ()


def test_a_wide_strip_keeps_exactly_its_central_three_to_one_part():
    # 3 x 500 = 1500 columns kept, starting at (4000 - 1500) // 2 = 1250.
    prepared = prepare_photo(_numbered_columns(500, 4000))
    columns = prepared.image[0, :, 0].astype(int) + 256 * prepared.image[0, :, 1]
    assert prepared.image.shape == (500, 1500, 3)
    assert columns[0] == 1250 and columns[-1] == 2749
    assert prepared.cropped and prepared.uploaded_size == (4000, 500)
    (note,) = prepared.notes()
    assert note.startswith("The photo is 8.0 times as wide as it is tall")
    assert "central 3:1 part" in note


def test_a_tall_strip_keeps_its_central_part_too():
    tall = np.ascontiguousarray(_numbered_columns(500, 4000).transpose(1, 0, 2))
    prepared = prepare_photo(tall)
    assert prepared.image.shape == (1500, 500, 3)
    assert prepared.image[0, 0, 0] + 256 * int(prepared.image[0, 0, 1]) == 1250
    assert "8.0 times as tall as it is wide" in prepared.notes()[0]


@pytest.mark.parametrize("width, cropped", [(1500, False), (1502, True)])
def test_three_to_one_is_judged_whole_and_longer_is_cut(width, cropped):
    prepared = prepare_photo(np.zeros((500, width, 3), np.uint8))
    assert prepared.cropped is cropped
    assert prepared.image.shape[1] == 1500


def test_a_huge_strip_is_cut_before_it_is_shrunk(tmp_path):
    # 12000 x 1000: the central 3000 x 1000 is kept, then shrunk to 2048 x 683. Shrinking the
    # whole strip first would have left a 2048 x 171 sliver.
    path = tmp_path / "panorama.jpg"
    Image.fromarray(_numbered_columns(1000, 12000)).save(path, quality=95)
    prepared = prepare_photo(path)
    assert prepared.image.shape == (683, 2048, 3)
    assert prepared.uploaded_size == (12000, 1000) and prepared.cropped


def test_transparency_is_filled_with_white_and_said(tmp_path):
    pixels = np.zeros((100, 100, 4), np.uint8)
    pixels[..., :3] = 40
    pixels[..., 3] = 255
    pixels[:, :50, 3] = 0  # the left half is transparent
    path = tmp_path / "cutout.png"
    Image.fromarray(pixels, "RGBA").save(path)
    prepared = prepare_photo(path)
    assert (prepared.image[:, :50] == 255).all() and (prepared.image[:, 50:] == 40).all()
    (note,) = prepared.notes("Your photo")
    assert note.startswith("Your photo has transparent areas; they were judged as white")

    pixels[..., 3] = 255  # an alpha channel that hides nothing is not worth a word
    Image.fromarray(pixels, "RGBA").save(path)
    assert prepare_photo(path).notes() == ()


def test_a_prepared_photo_is_not_prepared_twice():
    prepared = prepare_photo(np.zeros((500, 4000, 3), np.uint8))
    assert prepare_photo(prepared) is prepared


# === The same policy in every tab ===


@pytest.fixture
def thumbnail(tmp_path) -> str:
    path = tmp_path / "thumbnail.png"
    Image.fromarray(np.full((40, 60, 3), 90, np.uint8)).save(path)
    return str(path)


def _refusal(call) -> str:
    with pytest.raises(gr.Error) as caught:
        call()
    return str(caught.value.message)


def test_every_tab_refuses_a_thumbnail_with_the_same_sentence(thumbnail, tiny_clip):
    example = str(aesthetic_tab.EXAMPLES_DIR / "coffee.jpg")
    assert _refusal(lambda: aesthetic_tab.rate(thumbnail)) == \
        f"That photo can't be used: {TINY_MESSAGE}"
    assert _refusal(lambda: pose_tab.compare(example, thumbnail)) == \
        f"That photo of yours can't be used: {TINY_MESSAGE}"
    assert _refusal(lambda: pose_tab.compare(thumbnail, example)) == \
        f"That photo of the post can't be used: {TINY_MESSAGE}"
    assert _refusal(lambda: style_tab.classify_photo(thumbnail)) == \
        f"That photo can't be used: {TINY_MESSAGE}"


def test_aesthetic_rates_a_strip_as_its_central_part_and_says_so(strip):
    rating = aesthetic.rate(strip)
    centre = aesthetic.rate(np.ascontiguousarray(strip[:, 1250:2750]))
    assert rating.score == pytest.approx(centre.score, abs=1e-9)
    assert rating.notes[0].startswith("The photo is 8.0 times as wide as it is tall")
    # The explanation panel explains the same part, at the judged size: 512 x 1500 / 3 = 171.
    assert aesthetic.explanation_setup(strip, "quality").photo.shape == (171, 512, 3)


def test_pose_compares_a_strip_as_its_central_part_and_says_which_photo(strip):
    comparison = pose.compare(data.astronaut(), strip)
    assert comparison.b.image.shape == (171, 512, 3)
    assert any(note.startswith("The second photo is 8.0 times as wide") for note in
               comparison.notes)
    assert not any(note.startswith("The first photo is") for note in comparison.notes)


def test_style_classifies_a_strip_as_its_central_part_and_says_so(strip, tiny_clip):
    result = classify(strip)
    assert result.photo.shape == (171, 512, 3)
    assert result.notes[0].startswith("The photo is 8.0 times as wide as it is tall")


# === A rating does not care which way round a photo faces ===


@pytest.mark.parametrize("name", ["coffee", "chelsea", "astronaut", "rocket", "camera"])
def test_a_mirror_image_rates_within_a_twentieth_of_a_point(name):
    photo = getattr(data, name)()
    if photo.ndim == 2:
        photo = np.stack([photo] * 3, axis=-1)
    original, mirrored = aesthetic.rate(photo), aesthetic.rate(photo[:, ::-1])
    assert abs(original.score - mirrored.score) <= 0.05
    # The percentile counts 7 reference photos, so it moves in steps of 100/7: two scores 0.05
    # apart can straddle at most one reference photo's score.
    step = 100 / len(aesthetic.REFERENCE_PHOTOS)
    assert abs(original.percentile - mirrored.percentile) <= step + 1e-9
