"""The tag research's whole chain as a user runs it, on EfficientNet-B0 embeddings:

    python -m models.tags cache --backbone efficientnet   (killed once, then resumed)
    python -m models.train tags --backbone efficientnet
    python -m models.evaluate tags
    python -m models.tags infer --image PATH [--json]

on a tiny MIRFLICKR-25K in the real layout (tests/tags_data.py) whose tags are learnable, with a
tiny EfficientNet-style preset and the tiny CLIP found by the real resolver, and a test manifest
naming the trained `tags_head`. Then `tag()` and the tab's explanations answer from that head.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from models.tags import head as heads
from tests.tags_data import (
    TAGS_HEAD_MANIFEST_ENTRY,
    make_mirflickr,
    point_weights_at,
    run_main,
    tiny_efficientnet_root,
)

N_PHOTOS = 150
# 30 epochs at most: the head beats the tag-frequency baseline by 0.47 to 0.50 test mAP over
# seeds 0-2 (0.48 to 0.52 at 100; the test asks for 0.15).
TRAINING_FLAGS = ["--seed", "0", "--epochs", "30", "--patience", "10", "--batch-size", "32",
                  "--learning-rate", "0.03", "--model", "0hidden"]


@pytest.fixture(scope="module")
def chain(tmp_path_factory, tiny_weights_root):
    """Run cache (killed after its first part, then again), train and evaluate, as commands."""
    import models.tags.cache as tag_cache
    from weights.manifest import MANIFEST_PATH

    base = tmp_path_factory.mktemp("tags_chain")
    truth = make_mirflickr(base / "data", n_photos=N_PHOTOS, seed=3, corrupt=2)
    root = tiny_efficientnet_root(base / "weights")
    (root / "clip").symlink_to(tiny_weights_root / "clip", target_is_directory=True)
    manifest = base / "manifest.toml"
    manifest.write_text(MANIFEST_PATH.read_text() + TAGS_HEAD_MANIFEST_ENTRY)
    cache = base / "cache"
    data = ["--data", str(base / "data"), "--cache", str(cache)]
    cache_argv = ["cache", *data, "--backbone", "efficientnet", "--batch-size", "16", "--chunk",
                  "32"]
    runs = {}
    with pytest.MonkeyPatch.context() as patch:
        point_weights_at(patch, root, manifest)
        write_part = tag_cache._write_part
        parts = []

        def killed_after_the_first_part(path, keys, vectors):
            if parts:
                raise KeyboardInterrupt("killed")
            write_part(path, keys, vectors)
            parts.append(len(keys))

        patch.setattr(tag_cache, "_write_part", killed_after_the_first_part)
        with pytest.raises(KeyboardInterrupt):
            run_main("models.tags.__main__", cache_argv)
        patch.setattr(tag_cache, "_write_part", write_part)
        runs["killed_parts"] = list(parts)
        runs["cache"] = run_main("models.tags.__main__", cache_argv)
        runs["cache_again"] = run_main("models.tags.__main__", cache_argv)
        runs["train"] = run_main("models.train", [
            "tags", *data, "--backbone", "efficientnet", *TRAINING_FLAGS,
            "--out", str(root / heads.TAGS_HEAD)])
        runs["evaluate"] = run_main("models.evaluate", [
            "tags", "--cache", str(cache), "--results", str(base / "results.csv")])
    return {"base": base, "root": root, "manifest": manifest, "truth": truth, "runs": runs,
            "results": base / "results.csv", "data": base / "data"}


@pytest.fixture
def trained(chain, monkeypatch):
    """The resolver pointed at the chain's weights, with the trained head in the manifest."""
    point_weights_at(monkeypatch, chain["root"], chain["manifest"])
    yield chain
    import models.clip as clip
    from models.tags.embedders import reset_embedders

    clip.reset_default()
    reset_embedders()
    heads.reset_default()


def rgb(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as opened:
        return np.asarray(opened.convert("RGB"))


def info_of(chain) -> dict:
    return json.loads((chain["root"] / heads.TAGS_HEAD / heads.INFO_FILE).read_text())


def test_the_killed_cache_run_resumes_and_a_third_run_embeds_nothing(chain):
    valid, corrupt = len(chain["truth"]["valid"]), len(chain["truth"]["corrupt"])
    assert chain["runs"]["killed_parts"] == [32]
    code, out, err = chain["runs"]["cache"]
    assert code == 0, err
    assert f"embedded {valid - 32}, reused 32, failed {corrupt}" in out
    code, out, err = chain["runs"]["cache_again"]
    assert code == 0, err
    assert f"embedded 0, reused {valid}, failed {corrupt}" in out


def test_the_head_trained_on_efficientnet_beats_the_tag_frequency_baseline_on_test(chain):
    code, out, err = chain["runs"]["train"]
    assert code == 0, err
    info = info_of(chain)
    assert info["backbone"] == "efficientnet" and info["embedder_key"].startswith("efficientnet:")
    report = info["test_report"]
    assert report["map"] >= report["baseline_map"] + 0.15, report

    code, out, err = chain["runs"]["evaluate"]
    assert code == 0, err
    with chain["results"].open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1 and rows[0]["backbone"] == "efficientnet"
    assert float(rows[0]["map"]) == pytest.approx(report["map"], abs=1e-6)


def test_infer_prints_the_heads_probabilities_of_the_cached_vectors(trained, capsys):
    """`infer` decodes and embeds the photo itself; its probabilities must be the head's on the
    vector the cache computed from the same file through tf.data, and each decision must use
    the threshold chosen on validation."""
    from models.tags.cache import content_key, lookup

    info = info_of(trained)
    head = heads.load_from_folder(trained["root"] / heads.TAGS_HEAD)
    photo = trained["data"] / info["split"]["test"][0]
    [cached] = lookup(trained["base"] / "cache", info["embedder_key"], [content_key(photo)])
    expected = dict(zip(info["concepts"], head.probabilities(cached[None])[0].tolist(),
                        strict=True))

    code, out, err = run_main("models.tags.__main__", ["infer", "--image", str(photo),
                                                       "--json"])
    assert code == 0, err
    printed = json.loads(out)
    assert printed["sources"] == ["trained 0hidden head on efficientnet embeddings"]
    rows = {row["tag"]: row for row in printed["tags"]}
    assert rows.keys() == set(info["concepts"])
    for name, probability in expected.items():
        assert rows[name]["probability"] == pytest.approx(probability, abs=1e-4)
        assert rows[name]["threshold"] == pytest.approx(info["thresholds"][name], abs=1e-6)
        assert rows[name]["applied"] == (rows[name]["probability"] >= rows[name]["threshold"])
    probabilities = [row["probability"] for row in printed["tags"]]
    assert probabilities == sorted(probabilities, reverse=True)

    code, out, err = run_main("models.tags.__main__", ["infer", "--image", str(photo)])
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"{photo.name}: 24 tags by trained 0hidden head")
    top = printed["tags"][0]
    assert top["tag"] in lines[1] and f"{top['probability']:5.3f}" in lines[1]


def test_infer_finds_the_painted_tags_of_the_test_photos(trained):
    """Behaviour, not wiring: over the test split, a tag a photo shows gets a higher
    probability than the same tag on photos that do not show it, for most tags."""
    info = info_of(trained)
    truth = trained["truth"]
    concepts = list(truth["concepts"])
    shown, hidden = {c: [] for c in truth["present"]}, {c: [] for c in truth["present"]}
    for name in info["split"]["test"][:20]:
        code, out, err = run_main("models.tags.__main__", [
            "infer", "--image", str(trained["data"] / name), "--json"])
        assert code == 0, err
        number = int(name.split("/im")[1].split(".")[0])
        probabilities = {row["tag"]: row["probability"] for row in json.loads(out)["tags"]}
        for concept in truth["present"]:
            shows = truth["labels"][number - 1, concepts.index(concept)]
            (shown if shows else hidden)[concept].append(probabilities[concept])
    better = [c for c in truth["present"] if shown[c] and hidden[c]
              and np.mean(shown[c]) > np.mean(hidden[c])]
    assert len(better) >= 5, (shown, hidden)


@pytest.mark.parametrize("argv, code, words", [
    (["infer"], 2, "the following arguments are required: --image"),
    (["infer", "--image", "nowhere.jpg"], 1, "nowhere.jpg is not a file"),
    (["infer", "--image", "{corrupt}"], 1, "damaged or truncated"),
    (["infer", "--image", "{photo}", "--threshold", "1.5"], 2, "1.5 is not between 0 and 1"),
    (["infer", "--image", "{photo}", "--extra-tag", "<b>"], 2, "extra_tags[0]: got '<b>'"),
])
def test_infer_refuses_in_one_line(trained, argv, code, words):
    filled = [part.format(corrupt=trained["truth"]["corrupt"][0],
                          photo=trained["truth"]["valid"][0]) for part in argv]
    got, out, err = run_main("models.tags.__main__", filled)
    assert got == code, (out, err)
    assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_tag_answers_from_the_head_and_lets_clip_judge_the_users_own_tags(trained):
    from models.tags import tag

    info = info_of(trained)
    photo = rgb(trained["truth"]["valid"][0])
    result = tag(photo, extra=("golden retriever",))
    by_head = [d for d in result.decisions if d.source.startswith("trained 0hidden head")]
    assert {d.tag for d in by_head} == set(info["concepts"])
    assert all(d.threshold == pytest.approx(info["thresholds"][d.tag]) for d in by_head)
    assert all("chosen on validation" in d.rule for d in by_head)
    own = result.decision("golden retriever")
    assert own.source == "CLIP zero-shot" and own.own
    assert any("CLIP zero-shot for the 1 others" in note for note in result.notes)


def test_head_grad_cam_explains_the_shown_probabilities_on_efficientnets_grid(trained):
    """The Grad-CAM adapter is a Keras model of the very numbers the tab shows: its outputs
    equal tag()'s head probabilities, and its map covers the photo at the feature grid's
    resolution."""
    from models.tags import tag
    from models.tags.explanations import explanation_setup

    photo = rgb(trained["truth"]["valid"][1])
    result = tag(photo)
    setup = explanation_setup(result, result.decisions[0].tag)
    adapter = setup.models["gradcam"]
    got = adapter.predict(result.photo[None])[0]
    for index, name in enumerate(adapter.output_names):
        assert got[index] == pytest.approx(result.decision(name).probability, abs=1e-4)
    assert setup.models["cam"].startswith("CAM needs a GAP")
    from explain import explain

    explanation = explain("gradcam", adapter, result.photo, target=result.decisions[0].tag,
                          faithfulness=False)
    assert explanation.heatmap.shape == result.photo.shape[:2]
    # 224 pixels through the stem's stride 2 and the stacks' strides 1, 2 and 2.
    assert explanation.meta["grid"] == (28, 28)
