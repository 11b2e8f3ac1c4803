"""models.aesthetic with BRISQUE for quality, offline (no CLIP) and with a tiny CLIP.

Expected scores are worked out here from the documented formulas (the logistic quality scale,
the 50/50 mix with content, 1 + 9 x), not with the functions under test."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from explain import explain
from models.aesthetic import quality
from models.aesthetic import rating as aesthetic
from models.aesthetic.attributes import ATTRIBUTE_NAMES
from models.images import judged_copy


@pytest.fixture(scope="module")
def coffee():
    return data.coffee()


def expected_score(brisque_score: float, content: float | None = None) -> float:
    """The rating's score, from the README's formulas: quality = 1 / (1 + e^((B - 50) / 15)),
    mixed half and half with content when there is one, on a 1-10 scale."""
    quality_value = 1 / (1 + np.exp((brisque_score - 50) / 15))
    combined = quality_value if content is None else (quality_value + content) / 2
    return 1 + 9 * combined


def test_rating_offline_uses_quality_alone_and_says_so(coffee):
    from models.aesthetic import brisque

    rating = aesthetic.rate(coffee)
    assert rating.content is None
    # The BRISQUE of the copy every score is judged on (coffee is 600 x 400: itself, at most
    # 512 pixels a side).
    assert rating.brisque == pytest.approx(brisque.brisque_score(judged_copy(coffee)), abs=1e-9)
    assert rating.score == pytest.approx(expected_score(rating.brisque), abs=1e-9)
    assert rating.margin == pytest.approx(rating.score - 5.5, abs=1e-12)
    assert rating.aesthetic == (rating.score >= 5.5)
    assert any("python -m weights pull clip" in note for note in rating.notes)
    assert len(rating.attributes.as_rows()) == len(ATTRIBUTE_NAMES)


def test_a_made_up_brisque_gives_the_hand_computed_score(coffee, monkeypatch):
    # BRISQUE 35 -> quality 1 / (1 + e^-1) = 0.7311; score 1 + 9 x 0.7311 = 7.58; margin 2.08.
    monkeypatch.setattr(aesthetic, "brisque_scores", lambda images: np.full(len(images), 35.0))
    rating = aesthetic.rate(coffee)
    assert rating.quality == pytest.approx(0.7310586, abs=1e-6)
    assert rating.score == pytest.approx(7.5795274, abs=1e-6)
    assert rating.margin == pytest.approx(2.0795274, abs=1e-6)
    assert rating.aesthetic


@pytest.mark.parametrize("shape", [(1, 1, 3), (300, 40, 3)])
def test_photos_too_small_to_judge_are_refused_in_one_line(shape):
    from models.images import InvalidImage

    tiny = np.full(shape, 128, np.uint8)
    for call in (aesthetic.rate, aesthetic.attribute_contributions,
                 lambda image: aesthetic.explanation_setup(image, "quality")):
        with pytest.raises(InvalidImage, match=r"at least 64 pixels on each side") as caught:
            call(tiny)
        assert f"{shape[1]} x {shape[0]} pixels" in str(caught.value)
        assert "\n" not in str(caught.value)


def test_distortions_lower_the_score_of_a_photo(coffee):
    rng = np.random.default_rng(0)
    pristine = aesthetic.rate(coffee)
    # The defects BRISQUE models. It reads contrast-normalised luminance, so exposure and
    # colour casts barely move it (README, "Technical quality").
    for name in ("gaussian_blur", "motion_blur", "gaussian_noise", "jpeg", "downscale_upscale"):
        damaged = aesthetic.rate(quality.distort(coffee, name, 4, rng))
        assert damaged.score < pristine.score - 1, name
        assert damaged.percentile <= pristine.percentile, name


def test_the_percentile_counts_the_reference_photos_scoring_lower(coffee):
    # Worked out apart from percentile_of: rate each reference photo and count.
    from models.aesthetic.photos import load_photo

    assert len(aesthetic.REFERENCE_PHOTOS) == 7
    reference_scores = [aesthetic.rate(load_photo(name)).score
                        for name in aesthetic.REFERENCE_PHOTOS]
    # A reference photo rated again ties its own score (up to rounding either way), which
    # "lower" must not count: each of the seven is checked.
    themselves = [load_photo(name) for name in aesthetic.REFERENCE_PHOTOS]
    for photo in (coffee, quality.distort(coffee, "gaussian_blur", 3), *themselves):
        rating = aesthetic.rate(photo)
        lower = sum(score < rating.score - 1e-9 for score in reference_scores)
        assert rating.percentile == pytest.approx(100 * lower / 7)
    blurred = aesthetic.rate(quality.distort(coffee, "gaussian_blur", 5))
    assert blurred.percentile == 0.0  # worse than every real photo


def test_the_calibration_set_is_three_photos_and_their_spoiled_copies():
    reference = aesthetic._reference_set(None)
    assert aesthetic.CALIBRATION_PHOTOS == ("coffee", "chelsea", "flower")
    assert len(reference.scores) == 3 * (1 + 18)
    assert "coffee + jpeg 4" in reference.names


def test_attribute_contributions_are_shap_of_the_surrogate(coffee):
    rows = aesthetic.attribute_contributions(coffee)
    assert {n for n, _, _ in rows} == set(ATTRIBUTE_NAMES)
    magnitudes = [abs(value) for _, value, _ in rows]
    assert magnitudes == sorted(magnitudes, reverse=True)
    # SHAP values of a linear model add up to its prediction minus the expected prediction.
    reference = aesthetic._reference_set(None)
    from models.aesthetic.attributes import measure

    features = aesthetic.attribute_scores(measure(coffee))
    predicted = reference.intercept + features @ reference.coefficients
    expected = reference.intercept + reference.attributes.mean(axis=0) @ reference.coefficients
    assert sum(value for _, value, _ in rows) == pytest.approx((predicted - expected) * 9,
                                                               abs=1e-6)
    assert 0.3 < aesthetic.surrogate_fit() <= 1  # the attributes explain a real share of it
    good_end = [ATTRIBUTE_NAMES.index(n) for n in aesthetic.GOOD_END_ATTRIBUTES]
    assert (reference.coefficients[good_end] >= 0).all()
    # Composition does not change when a photo is spoiled: the surrogate cannot measure it.
    values = {name: value for name, value, _ in rows}
    for name in set(ATTRIBUTE_NAMES) - set(aesthetic.SURROGATE_ATTRIBUTES):
        assert values[name] == 0.0, name


def test_surrogate_recovers_known_weights_and_never_rewards_a_worse_good_end_attribute():
    rng = np.random.default_rng(0)
    features = rng.uniform(0, 1, (400, len(ATTRIBUTE_NAMES)))
    truth = np.zeros(len(ATTRIBUTE_NAMES))
    sharpness, saturation = ATTRIBUTE_NAMES.index("sharpness"), ATTRIBUTE_NAMES.index("saturation")
    exposure = ATTRIBUTE_NAMES.index("exposure")
    truth[sharpness], truth[saturation], truth[exposure] = 0.5, -0.3, -0.2
    groups = np.repeat(np.arange(8), 50)
    photo_effect = rng.normal(0, 0.5, 8)[groups]  # photos differ; the fit must ignore that
    scores = 0.4 + photo_effect + features @ truth + rng.normal(0, 0.01, 400)
    coefficients, intercept, r2 = aesthetic.fit_surrogate(features, scores, groups, alpha=1e-3)
    assert coefficients[sharpness] == pytest.approx(0.5, abs=0.02)
    assert coefficients[saturation] == pytest.approx(-0.3, abs=0.02)  # a taste: either sign
    assert coefficients[exposure] == pytest.approx(0.0, abs=1e-9)  # good end: never negative
    assert coefficients[ATTRIBUTE_NAMES.index("symmetry")] == 0.0  # not a surrogate attribute
    assert 0.8 < r2 < 1


def test_a_blurred_copy_blames_sharpness(coffee):
    blurred = quality.distort(coffee, "gaussian_blur", 5, np.random.default_rng(0))
    contributions = dict((name, value) for name, value, _ in
                         aesthetic.attribute_contributions(blurred))
    pristine = dict((name, value) for name, value, _ in aesthetic.attribute_contributions(coffee))
    assert contributions["sharpness"] < pristine["sharpness"]


def test_quality_explanations_explain_brisque_and_grad_cam_says_why_not(coffee):
    setup = aesthetic.explanation_setup(coffee, "quality")
    assert setup.method_targets == {}  # LIME and SHAP explain the number on the card itself
    reason = setup.models["gradcam"]
    assert isinstance(reason, str) and "Grad-CAM" in reason and "BRISQUE" in reason
    assert "\n" not in reason
    for method in ("lime", "shap"):
        exp = explain(method, setup.models[method], setup.photo, target="quality", budget=30)
        assert exp.heatmap.shape == setup.photo.shape[:2]
        assert exp.faithfulness is not None


def test_content_without_clip_gives_the_reason_for_every_method(coffee):
    models = aesthetic.explanation_setup(coffee, "content").models
    assert set(models) == {"gradcam", "lime", "shap"}
    assert all("python -m weights pull clip" in reason for reason in models.values())
    with pytest.raises(ValueError, match="Unknown target"):
        aesthetic.explanation_setup(coffee, "vibes")


def test_zero_shot_content_is_calibrated_on_the_calibration_set(coffee, tiny_clip):
    from models import clip

    _, photos = aesthetic.reference_variants()
    margins = aesthetic.zero_shot_margins([coffee, photos[1]])
    # The margin is the zero-shot logit difference: its sigmoid is CLIP's own probability, on
    # the copy every score is judged on.
    judged = [judged_copy(coffee), judged_copy(photos[1])]
    np.testing.assert_allclose(1 / (1 + np.exp(-margins)),
                               clip.zero_shot(judged,
                                              aesthetic.CONTENT_PROMPTS)[:, 0], atol=1e-5)
    # Recentred on the calibration set, computed here from CLIP's own zero-shot probabilities:
    # content = sigmoid(logit(p) - median of logit(p) over the calibration photos).
    def logit(p):
        return np.log(p / (1 - p))

    judged_set = [judged_copy(photo) for photo in photos]
    offset = np.median(logit(clip.zero_shot(judged_set, aesthetic.CONTENT_PROMPTS)[:, 0]))
    p_coffee = clip.zero_shot([judged_copy(coffee)], aesthetic.CONTENT_PROMPTS)[0, 0]
    expected = 1 / (1 + np.exp(-(logit(p_coffee) - offset)))
    assert aesthetic.content_scores([coffee])[0] == pytest.approx(expected, abs=1e-4)


def test_with_clip_the_content_score_joins_and_grad_cam_reads_its_patch_grid(coffee, tiny_clip):
    rating = aesthetic.rate(coffee)
    assert rating.content is not None and 0 <= rating.content <= 1
    assert rating.score == pytest.approx(expected_score(rating.brisque, rating.content), abs=1e-9)
    assert not any("pull clip" in note for note in rating.notes)
    aesthetic._adapters.clear()
    models = aesthetic.explanation_setup(coffee, "content").models
    exp = explain("gradcam", models["gradcam"], coffee, target="content", faithfulness=False)
    assert exp.heatmap.shape == coffee.shape[:2]
    aesthetic._adapters.clear()


# === A trained content head replaces the zero-shot ensemble ===


@pytest.fixture
def head_setup(tiny_weights_root, tmp_path, monkeypatch):
    """A weights root with the tiny CLIP, a manifest that names `aesthetic_head`, and good
    (bright) and bad (dark) photos to train it on."""
    import models.clip as clip
    import weights.resolver
    from weights.manifest import MANIFEST_PATH

    root = tmp_path / "weights"
    root.mkdir()
    (root / "clip").symlink_to(tiny_weights_root / "clip", target_is_directory=True)
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(MANIFEST_PATH.read_text() + '''
[aesthetic_head]
title = "Content aesthetics head (test)"
source = "hf://instavis-tests/aesthetic-head"
revision = "main"
files = ["head.keras"]
required = ["head.keras"]
format = "keras"
licence = "CC0-1.0"
used_by = ["aesthetic"]
''')
    monkeypatch.setattr(weights.resolver, "MANIFEST_PATH", manifest)
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(root))
    rng = np.random.default_rng(0)
    from PIL import Image

    for folder, low, high in (("good", 150, 255), ("bad", 0, 90)):
        (tmp_path / "data" / folder).mkdir(parents=True)
        for i in range(8):
            pixels = rng.integers(low, high, (48, 64, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / folder / f"{i}.png")
    clip.reset_default()
    aesthetic._head.clear()
    aesthetic._adapters.clear()
    aesthetic._reference.pop("head", None)
    yield root, tmp_path / "data"
    clip.reset_default()
    aesthetic._head.clear()
    aesthetic._adapters.clear()
    aesthetic._reference.pop("head", None)


def test_a_trained_head_named_in_the_manifest_replaces_zero_shot(head_setup, capsys, coffee):
    from models import clip
    from models.train import main

    root, photos = head_setup
    assert aesthetic.content_method() == "zero-shot"  # named, but not trained yet
    # 40 epochs: on these photos the head's bright-minus-dark margin is 0.41 to 0.60 over
    # trainer seeds 0-3 (0.93 to 0.95 at 300 epochs, at seven times the time)
    code = main(["aesthetic_head", "--data", str(photos), "--out",
                 str(root / aesthetic.CONTENT_HEAD), "--epochs", "40"])
    assert code == 0
    assert "test accuracy" in capsys.readouterr().out  # reported on the test split only
    assert aesthetic.content_method() == "head"

    bright = np.full((48, 64, 3), 210, np.uint8)
    dark = np.full((48, 64, 3), 40, np.uint8)
    scores = aesthetic.content_scores([bright, dark])
    assert scores[0] > scores[1]  # the head learned what good/ and bad/ taught it
    zero_shot = clip.zero_shot([bright, dark], aesthetic.CONTENT_PROMPTS)[:, 0]
    assert not np.allclose(scores, zero_shot)
    rating = aesthetic.rate(coffee)
    assert rating.content_source == "head"
    assert any("trained head" in note for note in rating.notes)
    gradcam = aesthetic.explanation_setup(coffee, "content").models["gradcam"]
    exp = explain("gradcam", gradcam, coffee,
                  target="content", faithfulness=False)
    assert exp.heatmap.shape == coffee.shape[:2]


def test_the_head_trainer_refuses_a_folder_without_both_classes(tmp_path, capsys):
    from models.train import main

    (tmp_path / "good").mkdir()
    assert main(["aesthetic_head", "--data", str(tmp_path)]) == 1
    error = capsys.readouterr().err.strip()
    assert "bad/" in error and "\n" not in error
