"""Technical quality reads a photo's own pixels (models.aesthetic.technical): a large photo is
scored on native-resolution tiles, so JPEG blocking that the judged copy smooths away is seen;
the explanations explain that same number; the Profile check reports the same number as the
Aesthetic tab.

Expected values are computed here from the definitions (tiles cut with numpy at positions
worked out by hand, BRISQUE's fits on the concatenated coefficients), not with the functions
under test."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data

from models import aesthetic
from models.aesthetic import brisque, technical
from models.aesthetic.distortions import jpeg_at
from models.images import judged_copy


def mirrored_2x2(photo: np.ndarray) -> np.ndarray:
    """A photo twice as large with its own detail: the photo and its mirror images side by
    side and stacked, no resampling. (Enlarging a photo would blur it at its new size, which
    is not what a large upload looks like.)"""
    top = np.concatenate([photo, photo[:, ::-1]], axis=1)
    return np.ascontiguousarray(np.concatenate([top, top[::-1]], axis=0))


def pooled_brisque(parts: list[np.ndarray]) -> float:
    """BRISQUE of parts pooled, from the definition: at each scale, every part's MSCN
    coefficients and neighbour products concatenated, then fitted once; the LIVE regression on
    the 36 features and on the mirror image's (diagonals swapped), averaged."""
    def scale_features(greys):
        coefficients = [brisque.mscn(g) for g in greys]
        out = list(brisque.fit_ggd(np.concatenate([c.ravel() for c in coefficients])))
        products = [brisque.pair_products(c) for c in coefficients]
        for direction in range(4):
            out.extend(brisque.fit_aggd(np.concatenate([p[direction].ravel()
                                                        for p in products])))
        return out

    greys = [brisque.luminance(part) for part in parts]
    raw = np.array(scale_features(greys) + scale_features([brisque._halve(g) for g in greys]))
    mirror = raw.copy()
    for scale in (0, 18):
        mirror[scale + 10:scale + 14], mirror[scale + 14:scale + 18] = \
            raw[scale + 14:scale + 18], raw[scale + 10:scale + 14]
    model = brisque.get_model()
    return float((model.predict(raw)[0] + model.predict(mirror)[0]) / 2)


@pytest.fixture(scope="module")
def large():
    """A 1350 x 1080 photo (Instagram's 4:5 portrait size) that was a JPEG at quality 30."""
    photo = np.asarray(Image.fromarray(data.astronaut()).resize((1080, 1350),
                                                                Image.Resampling.LANCZOS))
    return jpeg_at(photo, 30)


# === Which pixels are read ===


def test_a_large_photo_is_read_on_five_native_tiles(large):
    # 1350 x 1080, tiles of 256: the centre starts at (1350 - 256) // 2 = 547 and
    # (1080 - 256) // 2 = 412; the near quarter's tile at round(1350 / 4 - 128) = 210 and
    # round(1080 / 4 - 128) = 142, the far one mirrored: 1350 - 256 - 210 = 884 and
    # 1080 - 256 - 142 = 682.
    starts = [(547, 412), (210, 142), (210, 682), (884, 142), (884, 682)]
    assert technical.tile_boxes(1350, 1080) == tuple(
        (top, left, top + 256, left + 256) for top, left in starts)
    tiles = [large[top:top + 256, left:left + 256] for top, left in starts]
    expected = pooled_brisque(tiles)
    rating = aesthetic.rate(large)
    assert rating.brisque == pytest.approx(expected, abs=1e-6)
    assert rating.quality == pytest.approx(1 / (1 + np.exp((expected - 50) / 15)), abs=1e-9)
    # and not the judged copy's number
    assert abs(rating.brisque - brisque.brisque_score(judged_copy(large))) > 1


def test_a_photo_no_larger_than_the_judged_copy_is_read_whole_as_before():
    coffee = data.coffee()[:, :512]  # 400 x 512: its own judged copy
    assert technical.tile_boxes(400, 512) == ((0, 0, 400, 512),)
    assert aesthetic.rate(coffee).brisque == pytest.approx(pooled_brisque([coffee]), abs=1e-6)


def test_a_photo_of_up_to_640_x_512_pixels_is_read_whole_at_its_own_size():
    coffee = data.coffee()  # 400 x 600: larger than the judged copy, fewer pixels than 5 tiles
    assert technical.tile_boxes(400, 600) == ((0, 0, 400, 600),)
    assert aesthetic.rate(coffee).brisque == pytest.approx(pooled_brisque([coffee]), abs=1e-6)
    assert technical.tile_boxes(512, 641)[0] == (128, 192, 384, 448)  # one pixel too many


def test_a_mirror_image_is_read_on_mirrored_tiles(large):
    # Even sides: every tile of the mirror image is a tile of the photo, mirrored.
    flipped = np.ascontiguousarray(large[:, ::-1])
    assert technical.brisque_scores([flipped])[0] == pytest.approx(
        technical.brisque_scores([large])[0], abs=1e-6)


# === JPEG blocking on large photos that were JPEG already ===


def test_blocking_on_large_jpegs_is_ranked_and_seen_more_on_native_pixels():
    # Five large uploads that were JPEG already (quality 85), saved again at the issue's
    # levels, 70, 40, 20 and 8: level 0 is the upload itself.
    from scipy.stats import spearmanr

    photos = {name: getattr(data, name)() for name in ("astronaut", "coffee", "chelsea",
                                                        "rocket")}
    photos["motorcycle"] = data.stereo_motorcycle()[0]
    native_rhos, judged_rhos = [], []
    for name, photo in photos.items():
        upload = jpeg_at(mirrored_2x2(photo), 85)
        saved = [upload] + [jpeg_at(upload, q) for q in (70, 40, 20, 8)]
        native = technical.brisque_scores(saved)
        judged = brisque.brisque_scores([judged_copy(image) for image in saved])
        shown = f"{name}: native {np.round(native, 1)}, judged copy {np.round(judged, 1)}"
        # The heaviest compression raises the shipped score more than the judged copy's.
        assert native[-1] - native[0] > judged[-1] - judged[0], shown
        native_rhos.append(spearmanr(range(5), native).statistic)
        judged_rhos.append(spearmanr(range(5), judged).statistic)
    # The levels in order: the evaluation's bar, and better than the judged copy does.
    assert np.mean(native_rhos) >= 0.9, native_rhos
    assert np.mean(native_rhos) > np.mean(judged_rhos), (native_rhos, judged_rhos)


# === The explanations explain the card's number ===


def test_the_quality_explained_unperturbed_is_the_card_s(large):
    rating = aesthetic.rate(large)
    setup = aesthetic.explanation_setup(large, "quality")
    np.testing.assert_array_equal(setup.photo, judged_copy(large))  # maps drawn on the copy
    for method in ("lime", "shap"):
        # (the adapters hand the explainers float32)
        assert setup.models[method].predict(setup.photo)[0, 0] == pytest.approx(
            rating.quality, abs=1e-6)
    assert "five tiles" in setup.note


def test_hiding_part_of_the_shown_copy_hides_the_native_pixels_behind_it(large):
    native_quality = technical.NativeQuality(large)
    copy = judged_copy(large)  # 512 x 410: 1350 / 512 = 2.64 native pixels a copy pixel
    starts = [(547, 412), (210, 142), (210, 682), (884, 142), (884, 682)]
    tiles = [large[top:top + 256, left:left + 256] for top, left in starts]

    # Copy rows 70-185, columns 45-160 (native rows 185-488 and columns 119-422) cover the
    # second tile (210-466, 142-398) with room to spare, and no other tile. Filled with a colour
    # none of their pixels has, every one of them is hidden, and the tile behind them, enlarged
    # from a flat colour, is that colour throughout.
    fill = (3, 250, 7)
    region = copy[70:186, 45:161]
    assert not np.any(np.all(region == fill, axis=-1))
    hidden = copy.copy()
    hidden[70:186, 45:161] = fill
    filled = list(tiles)
    filled[1] = np.broadcast_to(np.array(fill, np.uint8), tiles[1].shape)
    assert native_quality(hidden[None])[0] == pytest.approx(
        brisque.quality_from_score(pooled_brisque(filled)), abs=1e-9)

    # A corner no tile reaches (copy rows 0-40: native rows 0-105) does not move the score.
    corner = copy.copy()
    corner[:40, :40] = 0
    assert native_quality(corner[None])[0] == pytest.approx(
        native_quality(copy[None])[0], abs=1e-12)

    with pytest.raises(ValueError, match="judged copy"):
        native_quality(np.zeros((1, 100, 100, 3), np.uint8))


def test_a_hidden_copy_pixel_reaches_the_native_pixels_whose_centres_it_covers(large):
    # Copy pixel (row i, column j) covers the native pixels whose centres fall in it: rows r
    # with floor((r + 0.5) x 512 / 1350) = i, columns c with floor((c + 0.5) x 410 / 1080) = j.
    native_quality = technical.NativeQuality(large)
    copy = judged_copy(large)
    hidden = copy.copy()
    hidden[100:104, 60:63] = 255  # white over light grey, inside the second tile
    rows = np.floor((np.arange(210, 466) + 0.5) * 512 / 1350).astype(int)
    columns = np.floor((np.arange(142, 398) + 0.5) * 410 / 1080).astype(int)
    expected = np.outer((rows >= 100) & (rows < 104), (columns >= 60) & (columns < 63))
    assert expected.sum() > 50
    tile_grey = brisque.luminance(large[210:466, 142:398])
    changed = native_quality.native_parts(hidden)[1] != tile_grey
    assert not np.any(changed & ~expected)  # nothing outside those native pixels
    assert changed[expected].mean() > 0.9  # and (almost: the fill may match one) all of them
    parts = native_quality.native_parts(hidden)
    others = {0: (547, 412), 2: (210, 682), 3: (884, 142), 4: (884, 682)}
    for other, (top, left) in others.items():  # the other tiles are untouched
        np.testing.assert_array_equal(parts[other],
                                      brisque.luminance(large[top:top + 256, left:left + 256]))


def test_a_small_photo_is_explained_on_its_own_pixels_as_before():
    photo = data.chelsea()  # 300 x 451: its own judged copy
    native_quality = technical.NativeQuality(photo)
    hidden = photo.copy()
    hidden[50:120, 100:300] = 0
    assert native_quality(hidden[None])[0] == pytest.approx(
        brisque.quality_from_score(pooled_brisque([hidden])), abs=1e-9)


# === The Profile check reads the same pixels ===


def test_the_profile_check_reports_the_aesthetic_tab_s_quality(large, tmp_path):
    from demos import profile_tab
    from models.profile.check import check

    paths = []
    for i, photo in enumerate((large, mirrored_2x2(data.coffee()), data.chelsea())):
        path = tmp_path / f"{i}.jpg"
        Image.fromarray(photo).save(path, quality=80)
        paths.append(str(path))
    report = check(paths)
    for path, reading in zip(paths, report.photos, strict=True):
        rating = aesthetic.rate(path)
        assert reading.brisque == pytest.approx(rating.brisque, abs=1e-9)
        assert reading.quality == pytest.approx(rating.quality, abs=1e-9)
    # and the Profile tab's explanation explains that number, on the copy it shows
    request = profile_tab.make_request(paths, 1, target="quality")
    assert request.image.shape == (512, 410, 3)
    assert request.model["lime"].predict(request.image)[0, 0] == pytest.approx(
        report.photos[0].quality, abs=1e-6)
