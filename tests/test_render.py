"""explain.render: overlays check their inputs and really colour, the figure and the table show
what the Explanations hold. Explanations are built by hand; no model is needed."""

from __future__ import annotations

import numpy as np
import pytest

from explain import Explanation, Faithfulness
from explain.render import (
    TABLE_HEADERS,
    comparison_figure,
    faithfulness_rows,
    figure_png,
    format_score,
    gallery_picture,
    muted,
    overlay,
    overlay_map,
    save_png,
)

HEIGHT, WIDTH = 24, 32
PHOTO = np.random.default_rng(0).integers(40, 216, (HEIGHT, WIDTH, 3), dtype=np.uint8)
GREY = np.full((HEIGHT, WIDTH, 3), 128, np.uint8)


def left_half(value: float = 1.0) -> np.ndarray:
    heatmap = np.zeros((HEIGHT, WIDTH), np.float32)
    heatmap[:, : WIDTH // 2] = value
    return heatmap


def explanation(method="gradcam", heatmap=None, signed=False, faithfulness=None, **meta):
    return Explanation(
        method=method, target="vivid", target_index=1,
        heatmap=left_half() if heatmap is None else heatmap, signed=signed,
        faithfulness=faithfulness, meta=meta,
    )


def faithfulness(deletion, insertion, random_deletion, random_insertion, spreads,
                 full=None):
    """A hand-made Faithfulness: the map's AUCs on the random maps' grid, the random maps' mean
    and spread; `full` gives the map's own 16-step AUCs (default: the same)."""
    full = full or (deletion, insertion)
    return Faithfulness(
        deletion_auc=full[0], insertion_auc=full[1], random_deletion_auc=random_deletion,
        random_insertion_auc=random_insertion, steps=16, deletion_curve=(1.0,) * 17,
        insertion_curve=(0.0,) * 16 + (1.0,), random_deletion_spread=spreads[0],
        random_insertion_spread=spreads[1], random_maps=8, random_steps=4,
        compared_deletion_auc=deletion, compared_insertion_auc=insertion,
    )


# Beats the random maps by more than their spread on both curves.
GOOD = faithfulness(0.2134, 0.6189, 0.3512, 0.4021, (0.04, 0.03), full=(0.1991, 0.6402))
# Beats their mean on deletion but not by the spread, and loses on insertion.
BAD = faithfulness(79.46, 120.4, 80.02, 140.7, (2.5, 6.1))


# === Input checks ===


@pytest.mark.parametrize(
    "heatmap, signed, message",
    [
        (left_half(1.5), False, r"unsigned maps must lie in \[0, 1\]"),
        (left_half(-0.2), False, r"unsigned maps must lie in \[0, 1\]"),
        (left_half(-1.5), True, r"signed maps must lie in \[-1, 1\]"),
        (left_half(np.nan), False, "NaN or infinite"),
        (left_half(np.inf), True, "NaN or infinite"),
        (np.zeros((HEIGHT, WIDTH + 1), np.float32), False, "like the image"),
        (np.zeros((HEIGHT, WIDTH, 1), np.float32), False, "like the image"),
        (np.zeros((HEIGHT, WIDTH), object), False, "hold numbers"),
    ],
)
def test_overlay_map_refuses_bad_maps(heatmap, signed, message):
    with pytest.raises(ValueError, match=message):
        overlay_map(PHOTO, heatmap, signed)


@pytest.mark.parametrize(
    "image",
    [PHOTO.astype(np.float32), PHOTO[..., :1], PHOTO[..., 0], PHOTO.tolist(),
     np.zeros((0, WIDTH, 3), np.uint8)],
    ids=["float", "one-channel", "2-d", "list", "empty"],
)
def test_overlay_refuses_images_that_are_not_uint8_rgb(image):
    with pytest.raises(ValueError, match="image"):
        overlay_map(image, np.zeros((HEIGHT, WIDTH), np.float32), False)


@pytest.mark.parametrize("alpha", [-0.1, 1.01, float("nan"), "0.5", True])
def test_overlay_refuses_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        overlay_map(PHOTO, left_half(), False, alpha)


def test_overlay_refuses_a_heatmap_of_another_size_through_the_explanation():
    exp = explanation(heatmap=np.zeros((HEIGHT * 2, WIDTH), np.float32))
    with pytest.raises(ValueError, match=f"like the image \\({HEIGHT} x {WIDTH}\\)"):
        overlay(PHOTO, exp)


def test_overlay_accepts_the_range_edges_and_a_rounding_error_past_them():
    assert overlay_map(PHOTO, left_half(1.0 + 1e-7), False).dtype == np.uint8
    assert overlay_map(PHOTO, left_half(-1.0), True).shape == PHOTO.shape


# === Overlays colour where the map is, and only there ===


@pytest.mark.parametrize("signed", [False, True])
def test_zero_leaves_the_photo_and_one_colours_it(signed):
    out = overlay(PHOTO, explanation(signed=signed, heatmap=left_half(1.0)), alpha=0.6)
    assert out.dtype == np.uint8 and out.shape == PHOTO.shape
    np.testing.assert_array_equal(out[:, WIDTH // 2 :], PHOTO[:, WIDTH // 2 :])
    changed = np.abs(out[:, : WIDTH // 2].astype(int) - PHOTO[:, : WIDTH // 2]).sum(axis=-1)
    assert (changed > 20).all()


def test_alpha_zero_shows_the_bare_photo_and_opacity_grows_with_the_value():
    np.testing.assert_array_equal(overlay_map(PHOTO, left_half(), False, alpha=0.0), PHOTO)
    faint = overlay_map(GREY, left_half(0.2), False, alpha=1.0)
    strong = overlay_map(GREY, left_half(0.9), False, alpha=1.0)
    distance = [np.abs(x[:, : WIDTH // 2].astype(int) - 128).sum() for x in (faint, strong)]
    assert distance[0] < distance[1]


def test_signed_maps_are_red_where_positive_and_blue_where_negative():
    heatmap = np.zeros((HEIGHT, WIDTH), np.float32)
    heatmap[:, : WIDTH // 2] = 1.0
    heatmap[:, WIDTH // 2 :] = -1.0
    out = overlay_map(GREY, heatmap, signed=True, alpha=0.7).astype(int)
    red, _, blue = out[:, : WIDTH // 2].mean(axis=(0, 1))
    assert red > blue + 30
    red, _, blue = out[:, WIDTH // 2 :].mean(axis=(0, 1))
    assert blue > red + 30


def test_unsigned_maps_use_a_sequential_map_hot_at_the_top():
    out = overlay_map(GREY, left_half(1.0), signed=False, alpha=1.0)
    red, green, blue = out[0, 0].astype(int)
    assert red > 200 and green > 200 and blue < 200  # inferno's top is pale yellow


# === Maps a person can read on any photo ===


def test_muted_photos_are_grey_with_the_photos_brightness():
    grey = muted(PHOTO)
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    expected = np.rint(PHOTO @ np.array([0.299, 0.587, 0.114])).astype(int)
    assert np.abs(grey[..., 0].astype(int) - expected).max() <= 1


@pytest.mark.parametrize("name", ["coffee", "chelsea", "astronaut", "retina"])
def test_a_signed_map_stands_out_more_on_the_grey_photo_than_on_a_warm_one(name):
    """Red marks on a warm photo read as the photo's own reds: how much redder (red minus
    blue) the marked half is than the rest is the map's visibility."""
    from skimage import data

    photo = getattr(data, name)()
    assert photo[..., 0].mean() - photo[..., 2].mean() > 40  # a warm photo: red over blue
    height, width = photo.shape[:2]
    heatmap = np.zeros((height, width), np.float32)
    heatmap[:, : width // 2] = 0.6
    exp = Explanation(method="lime", target="score", target_index=0, heatmap=heatmap,
                      signed=True, faithfulness=None, meta={})

    def visibility(picture):
        redness = picture[..., 0].astype(float) - picture[..., 2]
        return redness[:, : width // 2].mean() - redness[:, width // 2:].mean()

    # Measured against what the photo itself already shows on each side.
    on_colour = visibility(overlay(photo, exp)) - visibility(photo)
    on_grey = visibility(overlay(photo, exp, grey=True))
    assert on_grey > on_colour
    # The grey photo is neutral: the unmarked half carries no colour at all.
    assert np.ptp(overlay(photo, exp, grey=True)[:, width // 2:], axis=-1).max() == 0


@pytest.mark.parametrize("signed, low, high", [(True, "blue", "red"), (False, "dark", "yellow")])
def test_a_gallery_picture_carries_its_colour_scale(signed, low, high):
    exp = explanation(signed=signed, heatmap=left_half(-0.5 if signed else 0.5))
    picture = gallery_picture(PHOTO, exp)
    np.testing.assert_array_equal(picture[:HEIGHT], overlay(PHOTO, exp, grey=True))
    strip = picture[HEIGHT:].astype(int)
    assert strip.shape[1] == WIDTH and strip.shape[0] >= 10
    # The gradient's row: its ends are the colour map's ends.
    row = next(r for r in strip if np.ptp(r[:, 0]) > 50)
    left, right = row[0], row[-1]
    if signed:
        assert left[2] > left[0] + 50 and right[0] > right[2] + 50  # blue ... red
    else:
        assert left.sum() < 60 and right[0] > 200 and right[1] > 200  # black ... yellow


def test_the_scale_names_its_ends_in_words_a_person_can_read():
    from explain.render import SCALE_WORDS, colour_bar_strip

    assert SCALE_WORDS[True] == ("lowers the score", "raises the score")
    strip = colour_bar_strip(512, signed=True).astype(int)
    text = strip[strip.shape[0] // 2 + 2:]  # under the gradient
    dark = text.sum(axis=-1) < 400
    # Words at both ends, nothing in the middle of a 512-pixel strip.
    assert dark[:, :100].any() and dark[:, -100:].any() and not dark[:, 230:280].any()


# === The side-by-side figure ===


def test_comparison_figure_shows_the_photo_then_one_overlay_per_explanation():
    exps = [explanation("gradcam", faithfulness=GOOD),
            explanation("shap", heatmap=left_half(-0.5), signed=True, faithfulness=BAD),
            explanation("cam")]
    fig = comparison_figure(PHOTO, exps, title="What drives vivid")
    image_axes = [ax for ax in fig.axes if ax.images]
    assert len(image_axes) == 1 + len(exps)
    np.testing.assert_array_equal(image_axes[0].images[0].get_array(), PHOTO)
    np.testing.assert_array_equal(image_axes[2].images[0].get_array(),
                                  overlay(PHOTO, exps[1], grey=True))

    titles = [ax.get_title() for ax in image_axes]
    assert titles[0] == "Photo"
    assert titles[1].startswith("Grad-CAM")
    # The map's AUCs on the random maps' grid (what the verdict compares), each on its line.
    assert "\ndel 0.213 (rand 0.351 ± 0.0400)\nins 0.619 (rand 0.402 ± 0.0300)\n" in titles[1]
    assert titles[1].endswith("faithful: beats 8 random maps")
    assert "\ndel 79.5 (rand 80.0 ± 2.50)\nins 120 (rand 141 ± 6.10)\n" in titles[2]
    assert titles[2].endswith("no better than chance vs 8 random maps")
    assert titles[3] == "CAM"  # faithfulness not measured: no numbers to show
    assert fig.get_suptitle() == "What drives vivid"
    # One colour bar per kind of map present (unsigned and signed).
    assert len(fig.axes) == len(image_axes) + 2


def test_comparison_figure_has_one_colour_bar_when_all_maps_are_unsigned():
    fig = comparison_figure(PHOTO, [explanation("gradcam"), explanation("cam")])
    assert len(fig.axes) == 3 + 1


def test_comparison_figure_checks_each_map():
    with pytest.raises(ValueError, match="unsigned maps"):
        comparison_figure(PHOTO, [explanation(heatmap=left_half(2.0))])


def test_figure_png_and_save_png_write_the_same_png(tmp_path):
    fig = comparison_figure(PHOTO, [explanation(faithfulness=GOOD)])
    data = figure_png(fig)
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
    path = save_png(fig, tmp_path / "figure.png")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_importing_explain_render_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import explain.render, sys; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


# === The faithfulness table ===


def test_faithfulness_rows_hold_the_explanations_numbers():
    exps = [explanation("gradcam", faithfulness=GOOD, seconds=0.125, evaluations=1),
            explanation("lime", signed=True, faithfulness=BAD, seconds=3.5, evaluations=200),
            explanation("newmethod", seconds=0.5, evaluations=7)]
    rows = faithfulness_rows(exps)
    assert [len(row) for row in rows] == [len(TABLE_HEADERS)] * 3
    # The map's AUCs are the ones the verdict compares (on the random maps' grid).
    assert rows[0] == ["Grad-CAM", 0.2134, 0.6189, 0.3512, 0.4021, "yes", 0.125, 1]
    assert rows[1] == ["LIME", 79.46, 120.4, 80.02, 140.7, "no", 3.5, 200]
    assert rows[2] == ["newmethod", None, None, None, None, "n/a", 0.5, 7]


@pytest.mark.parametrize(
    "value, text",
    [(0.2134, "0.213"), (81.46, "81.5"), (169.12, "169"), (0.0, "0"), (-0.5, "-0.500"),
     (2.5e-5, "2.50e-05")],
)
def test_format_score_keeps_three_significant_digits(value, text):
    assert format_score(value) == text
