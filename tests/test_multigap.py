"""The "Image Rating using CNN" pipeline: MultiGAP features, the two PCAs, the genetic
algorithm, the FC head, saving, and the `models.train aesthetic` / `models.evaluate aesthetic`
CLIs, on tiny synthetic photos and a tiny EfficientNet loaded through `weights.resolve`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402

from models.aesthetic import rating_pipeline as rp  # noqa: E402
from models.aesthetic.multigap import (  # noqa: E402
    FeatureLayout,
    efficientnet_backbone,
    multigap_extractor,
)
from models.evaluate import main as evaluate_main  # noqa: E402
from models.train import main as train_main  # noqa: E402

SIDE = 32


# === Tiny backbone and synthetic photos ===


def tiny_efficientnet():
    """A keras-hub EfficientNetBackbone with three one-block stacks (8, 16, 24 filters).

    Its pyramid has P1 (8 channels, before the first stride-2 stack), P2 (16) and P3, the final
    1280-channel top (keras-hub does not serialise `num_features`, so the default must stay).
    """
    import keras_hub

    return keras_hub.models.EfficientNetBackbone(
        stackwise_width_coefficients=[1.0] * 3, stackwise_depth_coefficients=[1.0] * 3,
        stackwise_kernel_sizes=[3, 3, 3], stackwise_num_repeats=[1, 1, 1],
        stackwise_input_filters=[8, 8, 16], stackwise_output_filters=[8, 16, 24],
        stackwise_expansion_ratios=[1, 2, 2], stackwise_squeeze_and_excite_ratios=[0.25] * 3,
        stackwise_strides=[1, 2, 2], stackwise_block_types=["v1"] * 3,
        stackwise_force_input_filters=[0] * 3, stackwise_nores_option=[False] * 3,
        min_depth=None, use_depth_divisor_as_min_depth=True, cap_round_filter_decrease=True,
        dropout=0.0,
    )


TINY_STAGES = (("P1", 8), ("P2", 16), ("cnn", 1280))


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    """A weights root whose efficientnet_b0/ is the tiny preset, and the preset's weights."""
    root = tmp_path_factory.mktemp("weights")
    keras.utils.set_random_seed(1)
    backbone = tiny_efficientnet()
    backbone.save_to_preset(str(root / "efficientnet_b0"))
    return root, [v.numpy() for v in backbone.weights]


def good_photo(rng: np.random.Generator, side: int = SIDE) -> np.ndarray:
    """A smooth, colourful gradient between two random saturated colours."""
    t = np.linspace(0.0, 1.0, side)
    angle = rng.uniform(0, np.pi)
    ramp = np.cos(angle) * t[None, :] + np.sin(angle) * t[:, None]
    ramp = (ramp - ramp.min()) / max(np.ptp(ramp), 1e-6)
    start, end = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    start[rng.integers(3)], end[rng.integers(3)] = 255.0, 0.0  # keep them saturated
    return (start + (end - start) * ramp[..., None]).astype(np.uint8)


def bad_photo(rng: np.random.Generator, side: int = SIDE) -> np.ndarray:
    """A dull, noisy grey photo: heavy noise on a flat, washed-out grey."""
    grey = rng.uniform(90, 160)
    noise = rng.normal(0, 60, (side, side, 1)) + rng.normal(0, 10, (side, side, 3))
    return np.clip(grey + noise, 0, 255).astype(np.uint8)


def write_folder(root: Path, good: int, bad: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for name, count, draw in (("good", good, good_photo), ("bad", bad, bad_photo)):
        (root / name).mkdir(parents=True)
        for index in range(count):
            Image.fromarray(draw(rng)).save(root / name / f"{index}.png")
    return root


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# === MultiGAP ===


def test_multigap_size_is_the_sum_of_stage_channels_and_each_column_is_a_stage_mean():
    keras.utils.set_random_seed(0)
    backbone = tiny_efficientnet()
    extractor = multigap_extractor(backbone, SIDE, mean=(0.5,) * 3, std=(0.25,) * 3)
    assert extractor.layout.stages == TINY_STAGES
    assert extractor.layout.size == 8 + 16 + 1280
    assert extractor.layout.part_slices() == {"multigap": slice(0, 24), "cnn": slice(24, 1304)}

    images = np.random.default_rng(0).integers(0, 256, (2, SIDE, SIDE, 3)).astype(np.uint8)
    features = extractor(images)
    assert features.shape == (2, 1304)
    # Hand check: the P2 columns are the spatial means of the P2 map of normalised pixels.
    stage = keras.Model(backbone.inputs, backbone.pyramid_outputs["P2"])
    maps = stage.predict((images / 255.0 - 0.5) / 0.25, verbose=0)
    np.testing.assert_allclose(features[:, 8:24], maps.mean(axis=(1, 2)), rtol=1e-4, atol=1e-5)
    final = backbone.predict((images / 255.0 - 0.5) / 0.25, verbose=0)
    np.testing.assert_allclose(features[:, 24:], final.mean(axis=(1, 2)), rtol=1e-4, atol=1e-5)


def test_multigap_pools_named_layers_of_any_functional_model():
    image = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv1")(image)
    x = keras.layers.Conv2D(6, 3, strides=2, padding="same", name="conv2")(x)
    out = keras.layers.Conv2D(5, 1, name="top")(x)
    model = keras.Model(image, out)
    extractor = multigap_extractor(model, 8, layer_names=["conv1", "conv2"])
    assert extractor.layout == FeatureLayout((("conv1", 4), ("conv2", 6), ("cnn", 5)))
    assert extractor(np.zeros((3, 8, 8, 3), np.uint8)).shape == (3, 15)
    with pytest.raises(ValueError, match="pyramid_outputs"):
        multigap_extractor(model, 8)


def test_efficientnet_loads_through_weights_resolve(tiny_weights, monkeypatch):
    root, saved = tiny_weights
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(root))
    backbone = efficientnet_backbone()
    assert type(backbone).__name__ == "EfficientNetBackbone"
    for loaded, expected in zip(backbone.weights, saved, strict=True):
        np.testing.assert_array_equal(loaded.numpy(), expected)
    extractor = multigap_extractor(input_size=SIDE)  # None: resolves the weights itself
    assert extractor.layout.stages == TINY_STAGES


# === PCA ===


def test_each_part_gets_its_own_whitening_pca_of_half_its_length():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 30)) @ rng.normal(size=(30, 30))
    reducer = rp.fit_reducer(features, {"multigap": slice(0, 20), "cnn": slice(20, 30)})
    assert [(p.name, len(p.scale)) for p in reducer.parts] == [("multigap", 10), ("cnn", 5)]
    out = reducer.transform(features)
    assert out.shape == (40, 15)
    np.testing.assert_allclose(out.std(axis=0, ddof=1), 1.0, rtol=1e-4)  # whitened
    # The multigap components do not depend on the cnn columns, and vice versa.
    changed = features.copy()
    changed[:, 20:] += 100.0
    np.testing.assert_allclose(reducer.transform(changed)[:, :10], out[:, :10], atol=1e-4)
    assert not np.allclose(reducer.transform(changed)[:, 10:], out[:, 10:])
    # Few photos: at most N - 1 components.
    small = rp.fit_reducer(features[:6], {"multigap": slice(0, 20), "cnn": slice(20, 30)})
    assert [len(p.scale) for p in small.parts] == [5, 5]


# === The genetic algorithm ===


def test_next_generation_keeps_the_research_structure():
    config = rp.GAConfig(seed=0)
    assert (config.population, config.elite, config.parents) == (100, 2, 50)
    rng = np.random.default_rng(0)
    n_features, k = 40, 8
    population = rp.initial_population(n_features, k, 100, rng)
    assert population.shape == (100, k)
    assert all(len(set(row)) == k for row in population)
    fitness = rng.random(100)
    ranked = population[np.argsort(-fitness)]

    new = rp.next_generation(population, fitness, n_features, config, rng)
    assert new.shape == (100, k)
    assert all(len(set(row)) == k for row in new)
    assert new.min() >= 0 and new.max() < n_features
    np.testing.assert_array_equal(new[:2], ranked[:2])  # the 2 best survive unchanged
    # Rows 2..49 are the other 48 parents, each mutated in exactly round(0.1 * 8) = 1 gene.
    for row, parent in zip(new[2:50], ranked[2:50], strict=True):
        assert len(set(row) & set(parent)) == k - 1
    # Rows 50..99 are children of 3 consecutive top-50 parents, wrapping around.
    for j, child in enumerate(new[50:]):
        window = set(ranked[[j % 50, (j + 1) % 50, (j + 2) % 50]].ravel())
        assert set(child) <= window


def test_crossover_prefers_indices_the_parents_share():
    parents = np.array([[0, 1, 2], [0, 1, 3], [0, 4, 5]])
    rng = np.random.default_rng(0)
    for child in rp.crossover(parents, 3, 3, rng):
        assert {0, 1} <= set(child) and len(set(child)) == 3


def test_mutation_keeps_indices_unique_even_when_few_are_free():
    rng = np.random.default_rng(0)
    vectors = np.array([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
    mutated = rp.mutate(vectors, 10, 0.2, rng)  # replaces 4 of 5, from the 5 free indices
    for row, before in zip(mutated, vectors, strict=True):
        assert len(set(row)) == 5 and len(set(row) & set(before)) == 1


def informative_data(seed: int = 0):
    """300 rows, 30 columns; only columns 3, 8, 14, 21 and 27 carry the label."""
    rng = np.random.default_rng(seed)
    n, informative = 300, [3, 8, 14, 21, 27]
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 30))
    x[:, informative] += 0.9 * (2 * y[:, None] - 1)
    return x, y, informative


def test_ga_finds_the_informative_components_and_improves():
    x, y, informative = informative_data()
    fitness = rp.proxy_fitness(x[:150], y[:150], x[150:], y[150:])
    config = rp.GAConfig(generations=8, seed=3)
    result = rp.genetic_select(fitness, 30, 5, config)
    assert len(set(result.best) & set(informative)) >= 4, result.best
    history = np.array(result.best_history)
    assert len(history) == 9
    assert np.all(np.diff(history) >= 0)  # elitism: the best never gets worse
    assert history[-1] > history[0]
    assert result.mean_history[-1] > result.mean_history[0]
    assert result.best_fitness == history[-1] == fitness(result.best)
    # Seeded: the same seed finds the same vector.
    again = rp.genetic_select(fitness, 30, 5, config)
    np.testing.assert_array_equal(again.best, result.best)


def test_ga_settings_are_checked():
    with pytest.raises(ValueError):
        rp.GAConfig(population=10, parents=10)
    with pytest.raises(ValueError):
        rp.GAConfig(elite=5, parents=3)


# === FC head and saving ===


def test_fc_head_has_three_dense_layers_with_batch_norm_and_dropout():
    head = rp.fc_classifier(7)
    kinds = [type(layer).__name__ for layer in head.layers[1:]]
    assert kinds.count("Dense") == 3
    assert kinds.count("BatchNormalization") == 2 and kinds.count("Dropout") == 2
    assert head.output.shape == (None, 1) and head.layers[-1].name == "aesthetic"
    assert head.layers[-1].activation.__name__ == "sigmoid"


def test_saved_pipeline_loads_safely_and_predicts_the_same(tmp_path):
    x, y, _ = informative_data()
    reducer = rp.fit_reducer(x, {"multigap": slice(0, 20), "cnn": slice(20, 30)})
    keras.utils.set_random_seed(0)
    head = rp.fc_classifier(4, units=(8, 4))
    head.compile(optimizer="adam", loss="binary_crossentropy")
    head.fit(reducer.transform(x)[:, [0, 2, 5, 11]], y, epochs=1, verbose=0)
    pipeline = rp.RatingPipeline(reducer, np.array([0, 2, 5, 11]), head, input_size=SIDE,
                                 stages=(("P1", 20), ("cnn", 10)), backbone="efficientnet_b0")
    pipeline.save(tmp_path)
    with np.load(tmp_path / "pipeline.npz", allow_pickle=False) as data:  # no object arrays
        assert data["selected"].tolist() == [0, 2, 5, 11]
    loaded = rp.RatingPipeline.load(tmp_path)
    np.testing.assert_allclose(loaded.predict(x), pipeline.predict(x), rtol=1e-5, atol=1e-6)
    assert loaded.stages == (("P1", 20), ("cnn", 10)) and loaded.input_size == SIDE
    assert not np.allclose(loaded.predict(x), loaded.predict(x)[0])  # not a constant


# === The CLIs ===


def test_train_then_evaluate_end_to_end(tiny_weights, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(tiny_weights[0]))
    data = write_folder(tmp_path / "train", 10, 10, seed=0)
    out = tmp_path / "run"
    monkeypatch.chdir(tmp_path)  # --data relative: metrics.json must record it absolute
    code = train_main(["aesthetic", "--data", data.name, "--out", str(out), "--input-size",
                       str(SIDE), "--population", "12", "--parents", "6", "--generations", "2",
                       "--epochs", "40", "--batch-size", "8"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    trained_printed = printed.out
    assert "GA generation 2/2" in printed.out and "test accuracy:" in printed.out
    assert "the paper reported 93.4-95.5%" in printed.out
    assert "validation accuracy" not in printed.out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["features"]["stages"] == [list(stage) for stage in TINY_STAGES]
    # 10 photos a class: 2 to test, 2 of the other 8 to validation, 2 of the last 6 to the GA.
    assert metrics["photos"]["test"] == 4 and metrics["photos"]["validation"] == 4
    assert metrics["photos"]["ga_selection"] == 4 and metrics["photos"]["training"] == 12
    assert "validation_accuracy" not in metrics and 0.0 <= metrics["test_accuracy"] <= 1.0
    assert len(metrics["ga"]["best_history"]) == 3
    assert metrics["training_accuracy"] >= 0.9  # smooth colour against grey noise is easy

    bench_a = write_folder(tmp_path / "Benchmark1", 3, 3, seed=1)
    bench_b = write_folder(tmp_path / "coco", 0, 4, seed=2)
    code = evaluate_main(["aesthetic", "--model", str(out), "--data", str(bench_a),
                          str(bench_b)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    ours, research = printed.out.split("What the paper reported")
    rows = [line for line in ours.splitlines() if line.startswith(("Benchmark1 ", "coco "))]
    assert len(rows) == 2, printed.out
    assert rows[0].split()[1:4] == ["6", "3", "3"] and rows[0].endswith("94.59%")
    assert rows[1].split()[1:4] == ["4", "0", "4"] and rows[1].endswith("93.40%")
    assert "Alm Benchmark" in research and "95.50%" in research  # for reference

    # The evaluation's accuracy is the saved pipeline's, recomputed here.
    pipeline = rp.RatingPipeline.load(out)
    extractor = multigap_extractor(input_size=SIDE)
    paths, labels = rp.scan_rating_folder(bench_a)
    predictions = pipeline.predict(extractor(rp.load_letterboxed(paths, SIDE)))
    accuracy = np.mean((predictions >= 0.5) == (labels == 1))
    assert f"{100 * accuracy:.1f}%" == rows[0].split()[4]

    # The same training run, evaluated again from its saved split.
    assert_the_pipeline_evaluates_as_trained(out, data, trained_printed, capsys, tmp_path)


def _pipeline_report(printed: str) -> str:
    """The split and test-accuracy lines, as an aesthetic command printed them last."""
    start = printed.rindex("split by photo: ")  # training prints it when it splits, too
    return printed[start:printed.index("\n", printed.index("test accuracy: ", start))]


def assert_the_pipeline_evaluates_as_trained(out, data, trained_printed, capsys, tmp_path):
    """`python -m models.evaluate aesthetic --saved-split` on a run `out` trained on `data`:
    the split is saved, and the evaluator rates the saved pipeline's test photos to the
    figures training saved and printed."""
    import shutil

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"] == str(data.resolve())
    files = metrics["split_files"]
    photos = metrics["photos"]
    assert {side: len(names) for side, names in files.items()} == {
        "train": photos["training"], "fit": photos["training"] - photos["ga_selection"],
        "select": photos["ga_selection"], "validation": photos["validation"],
        "test": photos["test"]}
    assert sorted(files["fit"] + files["select"]) == sorted(files["train"])
    # Every photo in exactly one of training, validation and test.
    assert sorted(files["train"] + files["validation"] + files["test"]) == sorted(
        path.relative_to(data).as_posix() for path in data.rglob("*.png"))

    again_file = tmp_path / "again.json"
    assert evaluate_main(["aesthetic", "--model", str(out), "--saved-split",
                          "--json", str(again_file)]) == 0
    printed = capsys.readouterr().out
    again = json.loads(again_file.read_text())
    assert again["test_files"] == files["test"]
    assert _pipeline_report(printed) == _pipeline_report(trained_printed)
    assert "same as the test accuracy saved at training" in printed
    # Each test photo's probability and the accuracy, from pipeline.npz and head.keras, worked
    # out apart from the evaluator: the accuracy is the one training saved.
    pipeline = rp.RatingPipeline.load(out)
    probabilities = pipeline.predict(multigap_extractor(input_size=SIDE)(
        rp.load_letterboxed([data / name for name in files["test"]], SIDE)))
    np.testing.assert_allclose(again["probabilities"], probabilities, rtol=1e-5, atol=1e-6)
    good = np.array([name.startswith("good/") for name in files["test"]])
    assert np.mean((probabilities >= 0.5) == good) == pytest.approx(metrics["test_accuracy"],
                                                                     abs=1e-9)
    assert again["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-9)

    # Scored again, not copied: with the saved accuracy spoiled, the real one is printed. The
    # data folder moved: the evaluator says so in one line, and finds it where it is told.
    spoiled = shutil.copytree(out, tmp_path / "spoiled")
    metrics["test_accuracy"] = -1.0
    metrics["data"] = str(tmp_path / "gone")
    (spoiled / "metrics.json").write_text(json.dumps(metrics))
    assert evaluate_main(["aesthetic", "--model", str(spoiled), "--saved-split"]) == 1
    assert "gone is not here" in one_line(capsys.readouterr().err)
    assert evaluate_main(["aesthetic", "--model", str(spoiled), "--saved-split",
                          str(data)]) == 0
    printed = capsys.readouterr().out
    assert _pipeline_report(printed) == _pipeline_report(trained_printed)
    assert "differs from the test accuracy saved at training" in printed


def test_the_saved_split_evaluation_without_a_saved_split_says_so_in_one_line(tmp_path,
                                                                               capsys):
    old = tmp_path / "old"  # a run from before splits were saved
    old.mkdir()
    (old / "metrics.json").write_text(json.dumps({"task": "aesthetic", "data": "train",
                                                  "test_accuracy": 1.0}))
    assert evaluate_main(["aesthetic", "--model", str(old), "--saved-split"]) == 1
    printed = capsys.readouterr()
    assert printed.out == ""
    line = one_line(printed.err)
    assert "no saved split" in line and "python -m models.train aesthetic --data" in line
    assert evaluate_main(["aesthetic", "--model", str(tmp_path / "nothing"),
                          "--saved-split"]) == 1
    assert "no readable metrics.json" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize(("main", "argv", "fragment"), [
    (train_main, ["aesthetic"], "--data"),
    (train_main, ["aesthetic", "--data", "x", "--population", "two"], "not a whole number"),
    (train_main, ["aesthetic", "--data", "x", "--keep-fraction", "1.5"], "between"),
    (train_main, ["aesthetic", "--data", "x", "--parents", "200"], "parents"),
    (evaluate_main, ["aesthetic", "--model", "m"], "--data"),
    (evaluate_main, ["aesthetic", "--data", "x", "--saved-split"], "not allowed with"),
    (evaluate_main, ["aesthetic", "--data", "x", "--json", "f"], "--json goes with --saved-split"),
    (evaluate_main, ["rate"], "invalid choice: 'rate'"),
])
def test_bad_flags_are_one_line_and_exit_2(main, argv, fragment, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert fragment in one_line(captured.err) and captured.out == ""


def test_missing_or_misshapen_data_is_one_line_and_exit_1(tmp_path, capsys):
    assert train_main(["aesthetic", "--data", str(tmp_path / "nowhere")]) == 1
    assert "good/*.jpg" in one_line(capsys.readouterr().err)
    write_folder(tmp_path / "half", 4, 0, seed=0)
    assert train_main(["aesthetic", "--data", str(tmp_path / "half")]) == 1
    assert "bad/" in one_line(capsys.readouterr().err)
    assert evaluate_main(["aesthetic", "--model", str(tmp_path), "--data",
                          str(tmp_path / "empty")]) == 1
    assert "good/*.jpg" in one_line(capsys.readouterr().err)
    write_folder(tmp_path / "bench", 2, 2, seed=0)
    assert evaluate_main(["aesthetic", "--model", str(tmp_path / "nomodel"), "--data",
                          str(tmp_path / "bench")]) == 1
    assert "pipeline.npz" in one_line(capsys.readouterr().err)


def test_missing_weights_report_the_resolvers_summary(tmp_path, capsys):
    import weights

    with pytest.raises(weights.WeightsUnavailable) as caught:
        weights.resolve("efficientnet_b0")
    data = write_folder(tmp_path / "data", 4, 4, seed=0)
    assert train_main(["aesthetic", "--data", str(data), "--out", str(tmp_path / "run")]) == 1
    assert one_line(capsys.readouterr().err) == caught.value.summary
    assert not (tmp_path / "run").exists()
