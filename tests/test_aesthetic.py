"""models.aesthetic with BRISQUE for quality, offline (no CLIP) and with a tiny CLIP.

Expected scores are worked out here from the documented formulas (the logistic quality scale,
the 50/50 mix with content, 1 + 9 x), not with the functions under test."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from skimage import data

import models.aesthetic as aesthetic
from explain import explain
from models.aesthetic import distortions
from models.aesthetic.attributes import ATTRIBUTE_NAMES
from models.aesthetic.calibration import CALIBRATION_PHOTOS, calibration_set
from models.aesthetic.content import content_method, content_scores
from models.aesthetic.contributions import attribute_contributions
from models.aesthetic.explanations import explanation_setup
from models.aesthetic.head import CONTENT_HEAD
from models.aesthetic.rating import rate
from models.aesthetic.reference import REFERENCE_PHOTOS
from models.aesthetic.surrogate import (
    GOOD_END_ATTRIBUTES,
    SURROGATE_ATTRIBUTES,
    attribute_scores,
    fit_surrogate,
    surrogate,
    surrogate_fit,
)
from models.aesthetic.zero_shot import CONTENT_PROMPTS, zero_shot_margins
from models.images import judged_copy


@pytest.fixture(scope="module")
def coffee():
    return data.coffee()


def expected_score(brisque_score: float, content: float | None = None) -> float:
    """The rating's score, from the formulas of docs/tabs/aesthetic.md:
    quality = 1 / (1 + e^((B - 50) / 15)),
    mixed half and half with content when there is one, on a 1-10 scale."""
    quality_value = 1 / (1 + np.exp((brisque_score - 50) / 15))
    combined = quality_value if content is None else (quality_value + content) / 2
    return 1 + 9 * combined


def test_rating_offline_uses_quality_alone_and_says_so(coffee):
    from models.aesthetic import brisque

    rating = rate(coffee)
    assert rating.content is None
    # BRISQUE of the photo's own pixels: coffee is 600 x 400, larger than the 512-pixel copy
    # the other scores judge but with fewer pixels than five 256-pixel tiles, so it is read
    # whole at its own size (tests/test_quality_native.py has the tiled case).
    assert rating.brisque == pytest.approx(brisque.brisque_score(coffee), abs=1e-9)
    assert rating.brisque != pytest.approx(brisque.brisque_score(judged_copy(coffee)), abs=0.1)
    assert rating.score == pytest.approx(expected_score(rating.brisque), abs=1e-9)
    assert rating.margin == pytest.approx(rating.score - 5.5, abs=1e-12)
    assert rating.aesthetic == (rating.score >= 5.5)
    assert any("python -m weights pull clip" in note for note in rating.notes)
    assert len(rating.attributes.as_rows()) == len(ATTRIBUTE_NAMES)


def test_a_made_up_brisque_gives_the_hand_computed_score(coffee, monkeypatch):
    # BRISQUE 35 -> quality 1 / (1 + e^-1) = 0.7311; score 1 + 9 x 0.7311 = 7.58; margin 2.08.
    monkeypatch.setattr(aesthetic.rating, "brisque_scores",
                        lambda images: np.full(len(images), 35.0))
    rating = rate(coffee)
    assert rating.quality == pytest.approx(0.7310586, abs=1e-6)
    assert rating.score == pytest.approx(7.5795274, abs=1e-6)
    assert rating.margin == pytest.approx(2.0795274, abs=1e-6)
    assert rating.aesthetic


@pytest.mark.parametrize("shape", [(1, 1, 3), (300, 40, 3)])
def test_photos_too_small_to_judge_are_refused_in_one_line(shape):
    from models.images import InvalidImage

    tiny = np.full(shape, 128, np.uint8)
    for call in (rate, attribute_contributions,
                 lambda image: explanation_setup(image, "quality")):
        with pytest.raises(InvalidImage, match=r"at least 64 pixels on each side") as caught:
            call(tiny)
        assert f"{shape[1]} x {shape[0]} pixels" in str(caught.value)
        assert "\n" not in str(caught.value)


def test_distortions_lower_the_score_of_a_photo(coffee):
    rng = np.random.default_rng(0)
    pristine = rate(coffee)
    # The defects BRISQUE models. It reads contrast-normalised luminance, so exposure and
    # colour casts barely move it (docs/training/quality.md).
    for name in ("gaussian_blur", "motion_blur", "gaussian_noise", "jpeg", "downscale_upscale"):
        damaged = rate(distortions.distort(coffee, name, 4, rng))
        assert damaged.score < pristine.score - 1, name
        assert damaged.percentile <= pristine.percentile, name


def test_the_percentile_counts_the_reference_photos_scoring_lower(coffee):
    # Worked out apart from percentile_of: rate each reference photo and count.
    from models.aesthetic.photos import load_photo

    assert len(REFERENCE_PHOTOS) == 7
    reference_scores = [rate(load_photo(name)).score
                        for name in REFERENCE_PHOTOS]
    # A reference photo rated again ties its own score (up to rounding either way), which
    # "lower" must not count: each of the seven is checked.
    themselves = [load_photo(name) for name in REFERENCE_PHOTOS]
    for photo in (coffee, distortions.distort(coffee, "gaussian_blur", 3), *themselves):
        rating = rate(photo)
        lower = sum(score < rating.score - 1e-9 for score in reference_scores)
        assert rating.percentile == pytest.approx(100 * lower / 7)
    blurred = rate(distortions.distort(coffee, "gaussian_blur", 5))
    assert blurred.percentile == 0.0  # worse than every real photo


def test_the_calibration_set_is_three_photos_and_their_spoiled_copies():
    fitted = surrogate(None)
    assert CALIBRATION_PHOTOS == ("coffee", "chelsea", "flower")
    assert len(fitted.scores) == 3 * (1 + 18)
    assert "coffee + jpeg 4" in fitted.names


def test_the_shipped_calibration_copies_are_exactly_the_seeded_distortions(tmp_path):
    """The product reads the spoiled copies from files (it never imports the distortions, which
    are training-data code); each file must hold, pixel for pixel, the seeded distortion of
    its photo, so a changed distortion cannot leave stale copies behind."""
    from models.aesthetic.calibration import CALIBRATION_VARIANTS, calibration_photos

    names, photos = calibration_set()
    by_name = dict(zip(names, photos, strict=True))
    pristine = calibration_photos()
    for photo_name, photo in pristine.items():
        np.testing.assert_array_equal(by_name[photo_name], photo)
        for distortion, level in CALIBRATION_VARIANTS:
            expected = distortions.distort(photo, distortion, level, np.random.default_rng(level))
            np.testing.assert_array_equal(by_name[f"{photo_name} + {distortion} {level}"],
                                          expected, err_msg=f"{photo_name} {distortion} {level}")
    assert len(names) == len(pristine) * (1 + len(CALIBRATION_VARIANTS))


def test_attribute_contributions_are_shap_of_the_surrogate(coffee):
    rows = attribute_contributions(coffee)
    assert {n for n, _, _ in rows} == set(ATTRIBUTE_NAMES)
    magnitudes = [abs(value) for _, value, _ in rows]
    assert magnitudes == sorted(magnitudes, reverse=True)
    # SHAP values of a linear model add up to its prediction minus the expected prediction.
    fitted = surrogate(None)
    from models.aesthetic.attributes import measure

    features = attribute_scores(measure(coffee))
    predicted = fitted.intercept + features @ fitted.coefficients
    expected = fitted.intercept + fitted.attributes.mean(axis=0) @ fitted.coefficients
    assert sum(value for _, value, _ in rows) == pytest.approx((predicted - expected) * 9,
                                                               abs=1e-6)
    assert 0.3 < surrogate_fit() <= 1  # the attributes explain a real share of it
    good_end = [ATTRIBUTE_NAMES.index(n) for n in GOOD_END_ATTRIBUTES]
    assert (fitted.coefficients[good_end] >= 0).all()
    # Composition does not change when a photo is spoiled: the surrogate cannot measure it.
    values = {name: value for name, value, _ in rows}
    for name in set(ATTRIBUTE_NAMES) - set(SURROGATE_ATTRIBUTES):
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
    coefficients, intercept, r2 = fit_surrogate(features, scores, groups, alpha=1e-3)
    assert coefficients[sharpness] == pytest.approx(0.5, abs=0.02)
    assert coefficients[saturation] == pytest.approx(-0.3, abs=0.02)  # a taste: either sign
    assert coefficients[exposure] == pytest.approx(0.0, abs=1e-9)  # good end: never negative
    assert coefficients[ATTRIBUTE_NAMES.index("symmetry")] == 0.0  # not a surrogate attribute
    assert 0.8 < r2 < 1


def test_a_blurred_copy_blames_sharpness(coffee):
    blurred = distortions.distort(coffee, "gaussian_blur", 5, np.random.default_rng(0))
    contributions = dict((name, value) for name, value, _ in
                         attribute_contributions(blurred))
    pristine = dict((name, value) for name, value, _ in attribute_contributions(coffee))
    assert contributions["sharpness"] < pristine["sharpness"]


def test_quality_explanations_explain_brisque_and_grad_cam_says_why_not(coffee):
    setup = explanation_setup(coffee, "quality")
    assert setup.method_targets == {}  # LIME and SHAP explain the number on the card itself
    reason = setup.models["gradcam"]
    assert isinstance(reason, str) and "Grad-CAM" in reason and "BRISQUE" in reason
    assert "\n" not in reason
    for method in ("lime", "shap"):
        exp = explain(method, setup.models[method], setup.photo, target="quality", budget=30)
        assert exp.heatmap.shape == setup.photo.shape[:2]
        assert exp.faithfulness is not None


def test_content_without_clip_gives_the_reason_for_every_method(coffee):
    models = explanation_setup(coffee, "content").models
    assert set(models) == {"gradcam", "lime", "shap"}
    assert all("python -m weights pull clip" in reason for reason in models.values())
    with pytest.raises(ValueError, match="Unknown target"):
        explanation_setup(coffee, "vibes")


def test_zero_shot_content_is_calibrated_on_the_calibration_set(coffee, tiny_clip):
    from models import clip

    _, photos = calibration_set()
    margins = zero_shot_margins([coffee, photos[1]])
    # The margin is the zero-shot logit difference: its sigmoid is CLIP's own probability, on
    # the copy every score is judged on.
    judged = [judged_copy(coffee), judged_copy(photos[1])]
    np.testing.assert_allclose(1 / (1 + np.exp(-margins)),
                               clip.zero_shot(judged,
                                              CONTENT_PROMPTS)[:, 0], atol=1e-5)
    # Recentred on the calibration set, computed here from CLIP's own zero-shot probabilities:
    # content = sigmoid(logit(p) - median of logit(p) over the calibration photos).
    def logit(p):
        return np.log(p / (1 - p))

    judged_set = [judged_copy(photo) for photo in photos]
    offset = np.median(logit(clip.zero_shot(judged_set, CONTENT_PROMPTS)[:, 0]))
    p_coffee = clip.zero_shot([judged_copy(coffee)], CONTENT_PROMPTS)[0, 0]
    expected = 1 / (1 + np.exp(-(logit(p_coffee) - offset)))
    assert content_scores([coffee])[0] == pytest.approx(expected, abs=1e-4)


def test_with_clip_the_content_score_joins_and_grad_cam_reads_its_patch_grid(coffee, tiny_clip):
    rating = rate(coffee)
    assert rating.content is not None and 0 <= rating.content <= 1
    assert rating.score == pytest.approx(expected_score(rating.brisque, rating.content), abs=1e-9)
    assert not any("pull clip" in note for note in rating.notes)
    aesthetic.explanations._adapters.clear()
    models = explanation_setup(coffee, "content").models
    exp = explain("gradcam", models["gradcam"], coffee, target="content", faithfulness=False)
    assert exp.heatmap.shape == coffee.shape[:2]
    aesthetic.explanations._adapters.clear()


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
    yield root, tmp_path / "data"
    clip.reset_default()
    # Every cache is keyed by the head's copy, so nothing here is ever used again: free it.
    for cache in (aesthetic.head._heads, aesthetic.explanations._adapters,
                  aesthetic.reference._scores, aesthetic.surrogate._surrogates):
        cache.clear()


def test_a_trained_head_named_in_the_manifest_replaces_zero_shot(head_setup, capsys, coffee,
                                                                 tmp_path, monkeypatch):
    from models import clip
    from models.train import main

    root, photos = head_setup
    assert content_method() == "zero-shot"  # named, but not trained yet
    monkeypatch.chdir(photos.parent)  # --data relative: metrics.json must record it absolute
    # 40 epochs: on these photos the head's bright-minus-dark margin is 0.41 to 0.60 over
    # trainer seeds 0-3 (0.93 to 0.95 at 300 epochs, at seven times the time)
    code = main(["aesthetic_head", "--data", photos.name, "--out",
                 str(root / CONTENT_HEAD), "--epochs", "40"])
    assert code == 0
    trained_printed = capsys.readouterr().out
    assert "test accuracy" in trained_printed  # reported on the test split only
    assert content_method() == "head"

    bright = np.full((48, 64, 3), 210, np.uint8)
    dark = np.full((48, 64, 3), 40, np.uint8)
    scores = content_scores([bright, dark])
    assert scores[0] > scores[1]  # the head learned what good/ and bad/ taught it
    zero_shot = clip.zero_shot([bright, dark], CONTENT_PROMPTS)[:, 0]
    assert not np.allclose(scores, zero_shot)
    rating = rate(coffee)
    assert rating.content_source == "head"
    assert any("trained head" in note for note in rating.notes)
    gradcam = explanation_setup(coffee, "content").models["gradcam"]
    exp = explain("gradcam", gradcam, coffee,
                  target="content", faithfulness=False)
    assert exp.heatmap.shape == coffee.shape[:2]

    # The same training run, evaluated again from its saved split.
    assert_the_head_evaluates_as_trained(root / CONTENT_HEAD, photos, trained_printed,
                                         capsys, tmp_path)


def _head_report(printed: str) -> str:
    """The split and test-accuracy lines, as an aesthetic_head command printed them."""
    start = printed.index("split: ")
    end = printed.index("CLIP embedding + logistic head", start)
    return printed[start:printed.index("\n", end)]


def assert_the_head_evaluates_as_trained(out, data, trained_printed, capsys, tmp_path):
    """`python -m models.evaluate aesthetic_head` on a run `out` trained on `data`: the split
    is saved, and the evaluator scores the saved head on the test photos to the figures
    training saved and printed."""
    import keras

    from models import clip
    from models.evaluate import main as evaluate
    from models.images import load_image

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"] == str(data.resolve())
    files = metrics["split_files"]
    assert {side: len(names) for side, names in files.items()} == {
        side: metrics[side] for side in ("train", "validation", "test")}
    assert sorted(sum(files.values(), [])) == sorted(
        path.relative_to(data).as_posix() for path in data.rglob("*.png"))

    again_file = tmp_path / "again.json"
    assert evaluate(["aesthetic_head", "--model", str(out), "--json", str(again_file)]) == 0
    printed = capsys.readouterr().out
    again = json.loads(again_file.read_text())
    assert again["test_files"] == files["test"]
    assert again["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-9)
    assert _head_report(printed) == _head_report(trained_printed)
    assert "same as the accuracy saved at training" in printed
    # Each test photo's probability, from head.keras and the CLIP here, worked out apart from
    # the evaluator.
    head = keras.saving.load_model(out / "head.keras", safe_mode=True)
    embeddings = clip.get_clip().embed_images([load_image(data / name) for name in files["test"]])
    np.testing.assert_allclose(again["probabilities"], np.asarray(head(embeddings))[:, 0],
                               rtol=1e-5, atol=1e-6)

    # By its manifest name, found by the weights resolver as the tab finds it.
    assert evaluate(["aesthetic_head", "--model", CONTENT_HEAD]) == 0
    printed = capsys.readouterr().out
    assert f"from the manifest's {CONTENT_HEAD}" in printed
    assert _head_report(printed) == _head_report(trained_printed)

    # Scored again, not copied: with the saved accuracy spoiled, the real one is printed.
    spoiled = shutil.copytree(out, tmp_path / "spoiled")
    metrics["test_accuracy"] = -1.0
    (spoiled / "metrics.json").write_text(json.dumps(metrics))
    assert evaluate(["aesthetic_head", "--model", str(spoiled)]) == 0
    printed = capsys.readouterr().out
    assert _head_report(printed) == _head_report(trained_printed)
    assert "differs from the accuracy saved at training" in printed


def test_the_head_evaluator_without_a_saved_split_says_so_in_one_line(tmp_path, capsys):
    from models.evaluate import main as evaluate

    (tmp_path / "old").mkdir()  # a run from before splits were saved
    (tmp_path / "old" / "metrics.json").write_text(json.dumps({"test_accuracy": 1.0, "test": 2}))
    assert evaluate(["aesthetic_head", "--model", str(tmp_path / "old")]) == 1
    printed = capsys.readouterr()
    assert printed.out == ""
    lines = printed.err.strip().splitlines()
    assert len(lines) == 1, printed.err
    assert "no saved split" in lines[0] and "python -m models.train aesthetic_head" in lines[0]


def save_head(folder, kernel: np.ndarray, bias: float) -> None:
    """A content head as `python -m models.train aesthetic_head` saves one (the trainer's own
    network), with the given weights instead of trained ones. A filesystem with coarse
    timestamps could give the new file the old one's stamp (a real pull is seconds apart), so
    the stamp is moved on if it did not change."""
    import os

    from models.aesthetic.head import HEAD_FILE
    from models.aesthetic.train_head import build_head

    folder.mkdir(exist_ok=True)
    path = folder / HEAD_FILE
    before = path.stat() if path.exists() else None
    head = build_head(len(kernel), weight_decay=0.0)
    head.get_layer("aesthetic").set_weights([kernel[:, None].astype(np.float32),
                                             np.array([bias], np.float32)])
    head.save(path)
    after = path.stat()
    if before is not None and (before.st_size, before.st_mtime_ns) == (after.st_size,
                                                                       after.st_mtime_ns):
        os.utime(path, ns=(after.st_atime_ns, after.st_mtime_ns + 1_000_000_000))


def test_a_head_that_arrives_or_changes_is_used_by_the_score_the_percentile_and_grad_cam(
        head_setup, coffee):
    """Every cache derived from the content scorer is keyed by the head's copy: a head that
    arrives replaces zero-shot, and a rewritten head replaces the old one, in the content
    score, the reference scores the percentile ranks among, and the Grad-CAM adapter."""
    import keras

    from models import clip
    from models.aesthetic.content import content_identity
    from models.aesthetic.head import HEAD_FILE
    from models.aesthetic.technical import quality_scores

    root, _ = head_setup
    folder = root / CONTENT_HEAD
    references = list(aesthetic.reference.reference_photos().values())
    reference_quality = quality_scores(references)
    photo = explanation_setup(coffee, "content").photo  # the copy Grad-CAM is handed

    def head_probabilities(images) -> np.ndarray:
        """The head file on disk now, read here with Keras, on the photos' judged copies."""
        head = keras.saving.load_model(folder / HEAD_FILE, safe_mode=True)
        embeddings = clip.embed_images([judged_copy(image) for image in images])
        return np.asarray(head(embeddings), np.float64)[:, 0]

    def explained_content() -> float:
        adapter = explanation_setup(coffee, "content").models["gradcam"]
        return float(adapter.predict(photo)[0, 0])

    # Zero-shot first, so every cache holds a scorer the head must displace.
    before = rate(coffee)
    assert before.content_source == "zero-shot"
    assert explained_content() == pytest.approx(before.content, abs=1e-4)

    direction = np.random.default_rng(0).normal(size=clip.embed_images([coffee]).shape[1])
    contents = []
    for kernel, bias in ((2 * direction, 0.3), (-2 * direction, -0.3)):
        save_head(folder, kernel, bias)
        rating = rate(coffee)
        assert rating.content_source == "head"
        expected = head_probabilities([coffee])[0]
        assert rating.content == pytest.approx(expected, abs=1e-5)
        contents.append(rating.content)

        # The reference photos are scored by this head, and the percentile ranks among them.
        expected_reference = 0.5 * reference_quality + 0.5 * head_probabilities(references)
        np.testing.assert_allclose(aesthetic.reference.reference_scores(content_identity()),
                                   expected_reference, atol=1e-5)
        combined = (rating.quality + rating.content) / 2
        assert rating.percentile == pytest.approx(
            100 * np.mean(expected_reference < combined - 1e-9))

        # Grad-CAM explains this head's score, not the one before.
        assert explained_content() == pytest.approx(expected, abs=1e-4)
    assert abs(contents[0] - contents[1]) > 0.05  # the two heads disagree: the swap shows
    # Bounded: three scorers were used, the two latest heads are kept, zero-shot is gone.
    for cache in (aesthetic.explanations._adapters, aesthetic.reference._scores):
        assert [key[0] for key in cache.keys()] == ["head", "head"]


def test_the_head_trainer_refuses_a_folder_without_both_classes(tmp_path, capsys):
    from models.train import main

    (tmp_path / "good").mkdir()
    assert main(["aesthetic_head", "--data", str(tmp_path)]) == 1
    error = capsys.readouterr().err.strip()
    assert "bad/" in error and "\n" not in error
