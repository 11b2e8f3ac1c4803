"""models.aesthetic with the shipped quality model, offline (no CLIP) and with a tiny CLIP."""

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
    return data.coffee()  # held out of the quality model's training


def test_rating_offline_uses_quality_alone_and_says_so(coffee):
    rating = aesthetic.rate(coffee)
    assert 1 <= rating.score <= 10 and rating.content is None
    assert rating.score == pytest.approx(1 + 9 * aesthetic.quality_scale(rating.quality))
    assert rating.aesthetic == (rating.score >= 5.5)
    assert 0.5 <= rating.confidence <= 1 and 0 <= rating.percentile <= 100
    assert any("python -m weights pull clip" in note for note in rating.notes)
    assert len(rating.attributes.as_rows()) == len(ATTRIBUTE_NAMES)


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


def test_distortions_lower_the_score_of_an_unseen_photo(coffee):
    rng = np.random.default_rng(0)
    pristine = aesthetic.rate(coffee)
    # Not noise: on a whole photo the quality model misses it (README, "Technical quality").
    for name in ("gaussian_blur", "low_contrast", "under_exposure", "downscale_upscale"):
        damaged = aesthetic.rate(quality.distort(coffee, name, 4, rng))
        assert damaged.score < pristine.score, name
        assert damaged.percentile <= pristine.percentile, name


def test_the_percentile_is_against_photos_and_their_spoiled_copies():
    reference = aesthetic._reference_set(None)
    per_photo = 1 + len(aesthetic.REFERENCE_VARIANTS)
    assert len(reference.scores) == len(aesthetic.REFERENCE_PHOTOS) * per_photo
    assert aesthetic.percentile_of(reference.scores.max() + 1e-9, None) == 100.0
    assert aesthetic.percentile_of(reference.scores.min(), None) == 0.0
    # Each pristine photo beats its heavy copies of the kinds the quality model sees on whole
    # photos (it misses noise, JPEG and casts there; README, "Technical quality").
    scores = dict(zip(reference.names, reference.scores, strict=True))
    for photo in aesthetic.REFERENCE_PHOTOS:
        for distortion in ("gaussian_blur", "motion_blur", "low_contrast", "under_exposure",
                           "over_exposure", "downscale_upscale"):
            assert scores[f"{photo} + {distortion} 4"] < scores[photo], (photo, distortion)


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


def test_quality_explanations_run_through_every_method(coffee):
    setup = aesthetic.explanation_setup(coffee, "quality")
    for method, budget in (("gradcam", None), ("lime", 30), ("shap", 30)):
        exp = explain(method, setup.models[method], setup.photo,
                      target=setup.method_targets.get(method, "quality"), budget=budget)
        assert exp.heatmap.shape == setup.photo.shape[:2]
        assert exp.faithfulness is not None


def test_content_without_clip_gives_the_reason_for_every_method(coffee):
    models = aesthetic.explanation_setup(coffee, "content").models
    assert set(models) == {"gradcam", "lime", "shap"}
    assert all("python -m weights pull clip" in reason for reason in models.values())
    with pytest.raises(ValueError, match="Unknown target"):
        aesthetic.explanation_setup(coffee, "vibes")


def test_zero_shot_content_is_calibrated_on_the_reference_set(coffee, tiny_clip):
    from models import clip

    _, photos = aesthetic.reference_variants()
    margins = aesthetic.zero_shot_margins([coffee, photos[1]])
    # The margin is the zero-shot logit difference: its sigmoid is CLIP's own probability, on
    # the copy every score is judged on.
    judged = [judged_copy(coffee), judged_copy(photos[1])]
    np.testing.assert_allclose(1 / (1 + np.exp(-margins)),
                               clip.zero_shot(judged,
                                              aesthetic.CONTENT_PROMPTS)[:, 0], atol=1e-5)
    # Recentred on the reference set: its median photo sits at 0.5.
    content = aesthetic.content_scores(photos)
    assert np.median(content) == pytest.approx(0.5, abs=1e-6)
    assert content.min() < 0.5 < content.max()


def test_with_clip_the_content_score_joins_and_grad_cam_reads_its_patch_grid(coffee, tiny_clip):
    rating = aesthetic.rate(coffee)
    assert rating.content is not None and 0 <= rating.content <= 1
    assert rating.score == pytest.approx(1 + 9 * aesthetic.combine(rating.quality, rating.content))
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
    code = main(["aesthetic_head", "--data", str(photos), "--out",
                 str(root / aesthetic.CONTENT_HEAD), "--epochs", "300"])
    assert code == 0
    assert "test accuracy" in capsys.readouterr().out
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
