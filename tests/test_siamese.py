"""InstaModel's Siamese pipeline: pairs, skeleton masks, networks, the ResNet50 loaders and the
`python -m models.train pose` CLI, on tiny synthetic data and tiny or random-weight backbones."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from models import backbones  # noqa: E402
from models.pose import pairs as pose_pairs  # noqa: E402
from models.pose.pairs import (  # noqa: E402
    DIFFERENT_SITE,
    SAME_POSE,
    SAME_SITE_OTHER_POSE,
    SITE_ONLY,
    DatasetLayoutError,
    build_pairs,
    scan_pose_dataset,
    split_pairs,
)
from models.train import main  # noqa: E402

SITES = ("eiffel", "pisa", "rome")
# Where the two hands go, relative to the neck, in each posture.
POSTURES = {"arms_up": ((-6, -14), (6, -14)), "arms_out": ((-14, -2), (14, -2))}
PHOTOS_PER_POSE = 3
SITE_ONLY_PHOTOS = 2
SCENE = 64


# === Synthetic data ===


def draw_scene(site: int, posture: str | None, seed: int) -> Image.Image:
    """A 64 x 64 photo: the site is a background pattern, the pose a stick figure."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (SCENE, SCENE))
    draw = ImageDraw.Draw(image)
    for top in range(0, SCENE, 8):
        if site == 0:  # blue and white stripes
            draw.rectangle([0, top, SCENE, top + 3], fill=(40, 80, 200))
            draw.rectangle([0, top + 4, SCENE, top + 7], fill=(230, 230, 240))
        elif site == 1:  # green and yellow checks
            for left in range(0, SCENE, 8):
                colour = (60, 160, 60) if (top + left) // 8 % 2 else (230, 210, 60)
                draw.rectangle([left, top, left + 7, top + 7], fill=colour)
        else:  # red and grey columns
            for left in range(0, SCENE, 8):
                draw.rectangle([left, top, left + 3, top + 7], fill=(200, 50, 40))
                draw.rectangle([left + 4, top, left + 7, top + 7], fill=(120, 120, 120))
    if posture is not None:
        x, y = 32 + int(rng.integers(-6, 7)), 34 + int(rng.integers(-4, 5))
        ink = (20, 20, 20)
        draw.ellipse([x - 4, y - 22, x + 4, y - 14], fill=ink)
        draw.line([(x, y - 14), (x, y + 6)], fill=ink, width=3)
        for dx, dy in POSTURES[posture]:
            draw.line([(x, y - 10), (x + dx, y - 10 + dy)], fill=ink, width=3)
        draw.line([(x, y + 6), (x - 6, y + 20)], fill=ink, width=3)
        draw.line([(x, y + 6), (x + 6, y + 20)], fill=ink, width=3)
    return image


def write_dataset(root: Path) -> Path:
    """3 sites x 2 poses x 3 photos, plus 2 photos of each site alone, in the research's layout
    (three sites: the fewest a split by site into training, validation and test can use)."""
    seed = 0
    for site_index, site in enumerate(SITES):
        for posture in POSTURES:
            folder = root / site / posture
            folder.mkdir(parents=True)
            for k in range(PHOTOS_PER_POSE):
                draw_scene(site_index, posture, seed := seed + 1).save(folder / f"{k}.jpg")
        folder = root / site / pose_pairs.SITE_ONLY_FOLDER
        folder.mkdir(parents=True)
        for k in range(SITE_ONLY_PHOTOS):
            draw_scene(site_index, None, seed := seed + 1).save(folder / f"{k}.jpg")
    return root


# Joints (x, y in 0..1) of a figure standing in the middle, then each posture's arms.
BODY_JOINTS = {0: (0.5, 0.15), 11: (0.42, 0.3), 12: (0.58, 0.3), 23: (0.45, 0.6),
               24: (0.55, 0.6), 25: (0.44, 0.75), 26: (0.56, 0.75), 27: (0.43, 0.9),
               28: (0.57, 0.9)}
ARM_JOINTS = {"arms_up": {13: (0.36, 0.18), 14: (0.64, 0.18), 15: (0.34, 0.05),
                          16: (0.66, 0.05)},
              "arms_out": {13: (0.28, 0.3), 14: (0.72, 0.3), 15: (0.12, 0.3),
                           16: (0.88, 0.3)}}


def posture_skeleton(posture: str, shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """A MediaPipe-shaped (33, 3) skeleton in one posture, moved by `shift`, joints visible."""
    skeleton = np.zeros((33, 3), np.float32)
    for index, (x, y) in {**BODY_JOINTS, **ARM_JOINTS[posture]}.items():
        skeleton[index] = (x + shift[0], y + shift[1], 0.99)
    return skeleton


def posture_skeletons(image) -> list[np.ndarray]:
    """Stands in for `detect_skeletons` on the synthetic photos: the posture named by the photo's
    folder, shifted a little per file so that no two masks are copies; nobody in `_zz`."""
    path = Path(image)
    if path.parent.name not in ARM_JOINTS:
        return []
    rng = np.random.default_rng(sum(path.as_posix().encode()))
    return [posture_skeleton(path.parent.name, tuple(rng.uniform(-0.06, 0.06, 2)))]


@pytest.fixture(scope="module")
def pose_data(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("pose_data"))


# === Tiny and random-weight backbones ===


def tiny_resnet():
    """A keras-hub ResNetBackbone small enough to train in a second (one bottleneck block;
    keras-hub insists on 64 filters in the first stack)."""
    import keras_hub

    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[8], input_conv_kernel_sizes=[3], stackwise_num_filters=[64],
        stackwise_num_blocks=[1], stackwise_num_strides=[1], block_type="bottleneck_block",
    )


# An empty but valid safetensors file: an 8-byte little-endian header length, then "{}".
EMPTY_SAFETENSORS = (2).to_bytes(8, "little") + b"{}"


@pytest.fixture(scope="module")
def tiny_weights_dir(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    """A weights root whose resnet50/ is a tiny keras-hub preset (config.json and
    model.weights.h5, which the manifest accepts in place of timm's model.safetensors), and the
    preset's weights."""
    root = tmp_path_factory.mktemp("tiny_weights")
    backbone = tiny_resnet()
    backbone.save_to_preset(str(root / "resnet50"))
    return root, [v.numpy() for v in backbone.weights]


def write_timm_resnet50(folder: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """A random-weight ResNet50 in timm's own format: torch-layout tensors named as timm names
    them (conv1, bn1, layerN.B.convK, downsample.0/1, fc), plus timm's config.json."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    tensors: dict[str, np.ndarray] = {}

    def conv(name, out_channels, in_channels, kernel):
        scale = np.sqrt(2.0 / (in_channels * kernel * kernel))
        tensors[f"{name}.weight"] = (
            rng.standard_normal((out_channels, in_channels, kernel, kernel), np.float32) * scale
        )

    def batch_norm(name, channels):
        tensors[f"{name}.weight"] = rng.uniform(0.5, 1.5, channels).astype(np.float32)
        tensors[f"{name}.bias"] = rng.normal(0, 0.1, channels).astype(np.float32)
        tensors[f"{name}.running_mean"] = np.zeros(channels, np.float32)
        tensors[f"{name}.running_var"] = np.ones(channels, np.float32)

    conv("conv1", 64, 3, 7)
    batch_norm("bn1", 64)
    in_channels = 64
    stages = zip((64, 128, 256, 512), (3, 4, 6, 3), strict=True)  # ResNet50's widths and depths
    for stage, (width, blocks) in enumerate(stages, start=1):
        for block in range(blocks):
            prefix = f"layer{stage}.{block}"
            conv(f"{prefix}.conv1", width, in_channels, 1)
            batch_norm(f"{prefix}.bn1", width)
            conv(f"{prefix}.conv2", width, width, 3)
            batch_norm(f"{prefix}.bn2", width)
            conv(f"{prefix}.conv3", 4 * width, width, 1)
            batch_norm(f"{prefix}.bn3", 4 * width)
            if block == 0:
                conv(f"{prefix}.downsample.0", 4 * width, in_channels, 1)
                batch_norm(f"{prefix}.downsample.1", 4 * width)
            in_channels = 4 * width
    tensors["fc.weight"] = np.zeros((1000, 2048), np.float32)
    tensors["fc.bias"] = np.zeros(1000, np.float32)
    folder.mkdir(parents=True)
    save_file(tensors, str(folder / "model.safetensors"))
    config = {
        "architecture": "resnet50", "num_classes": 1000, "num_features": 2048,
        "pretrained_cfg": {"tag": "a1_in1k", "input_size": [3, 224, 224],
                           "interpolation": "bicubic", "crop_pct": 0.95,
                           "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3],
                           "num_classes": 1000, "first_conv": "conv1", "classifier": "fc"},
    }
    (folder / "config.json").write_text(json.dumps(config))
    return tensors


# === Dataset and pairs ===


def test_scan_finds_people_and_site_only_photos(pose_data):
    dataset = scan_pose_dataset(pose_data)
    assert dataset.sites == SITES
    groups = dataset.groups()
    assert sorted(groups) == sorted((s, p) for s in SITES for p in POSTURES)
    assert all(len(members) == PHOTOS_PER_POSE for members in groups.values())
    site_only = dataset.site_only()
    assert {site: len(photos) for site, photos in site_only.items()} == {
        site: SITE_ONLY_PHOTOS for site in SITES}
    assert all(photo.pose is None and not photo.has_person
               for photos in site_only.values() for photo in photos)


def test_pairs_are_balanced_labelled_by_site_and_pose_and_unique(pose_data):
    pairs = build_pairs(scan_pose_dataset(pose_data), seed=3)
    positives = [p for p in pairs if p.same]
    negatives = [p for p in pairs if not p.same]
    # Every two photos of a pose folder: C(3, 2) = 3 pairs in each of the 6 folders.
    assert len(positives) == 6 * 3 == len(negatives)
    for pair in positives:
        assert pair.kind == SAME_POSE
        assert pair.a.site == pair.b.site and pair.a.pose == pair.b.pose is not None
    for pair in negatives:
        if pair.kind == SAME_SITE_OTHER_POSE:
            assert pair.a.site == pair.b.site and None is not pair.a.pose != pair.b.pose
        elif pair.kind == DIFFERENT_SITE:
            assert pair.a.site != pair.b.site and pair.a.has_person and pair.b.has_person
        else:
            assert pair.kind == SITE_ONLY
            assert pair.a.site == pair.b.site and pair.a.has_person != pair.b.has_person
    # Every kind has enough candidates here, so the 18 negatives split evenly.
    assert {kind: sum(p.kind == kind for p in negatives)
            for kind in pose_pairs.NEGATIVE_KINDS} == dict.fromkeys(pose_pairs.NEGATIVE_KINDS, 6)
    assert all(pair.a.path != pair.b.path for pair in pairs)
    assert len({pair.key for pair in pairs}) == len(pairs)
    # Both orders occur: the network must not learn that `a` is, say, always the person.
    assert {p.a.has_person for p in negatives if p.kind == SITE_ONLY} == {True, False}


def test_pairs_and_split_are_determined_by_the_seed(pose_data):
    dataset = scan_pose_dataset(pose_data)
    assert build_pairs(dataset, seed=7) == build_pairs(dataset, seed=7)
    assert build_pairs(dataset, seed=7) != build_pairs(dataset, seed=8)
    assert split_pairs(dataset, "site", seed=1) == split_pairs(dataset, "site", seed=1)
    # Three sites, one a split: some seed among the first few deals them differently.
    assert len({tuple(split_pairs(dataset, "site", seed=seed).sites("test"))
                for seed in range(6)}) > 1


def make_layout(root: Path, files: list[str]) -> Path:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        draw_scene(0, "arms_up", 0).save(path)
    return root


@pytest.mark.parametrize(("files", "reason"), [
    (None, "does not exist"),
    ([], "two photos or more"),
    (["a.jpg", "b.jpg"], "two photos or more"),  # photos, but no SITE/POSE folders
    (["site/pose/a.jpg", "site/other/b.jpg"], "two photos or more"),
    (["site/pose/a.jpg", "site/pose/b.jpg"], "no negative pair"),
])
def test_scan_explains_a_wrong_layout_in_one_line(tmp_path, files, reason):
    root = tmp_path / "data"
    if files is not None:
        root.mkdir()
        make_layout(root, files)
    with pytest.raises(DatasetLayoutError) as caught:
        scan_pose_dataset(root)
    message = str(caught.value)
    assert reason in message and "DIR/SITE/POSE/*.jpg" in message and "\n" not in message


def test_one_pose_with_site_only_photos_is_enough(tmp_path):
    make_layout(tmp_path, ["site/pose/a.jpg", "site/pose/b.jpg", "site/_zz/c.jpg"])
    pairs = build_pairs(scan_pose_dataset(tmp_path))
    assert [p.kind for p in pairs if not p.same] == [SITE_ONLY]
    assert sum(p.same for p in pairs) == 1


# === Skeleton masks ===


def test_skeleton_mask_draws_the_astronauts_upper_body():
    from skimage import data

    from models.pose.skeleton_mask import skeleton_mask

    mask = skeleton_mask(data.astronaut(), size=64)
    assert mask.shape == (64, 64) and mask.dtype == np.float32
    assert set(np.unique(mask)) == {0.0, 1.0}
    rows, cols = np.nonzero(mask)
    assert len(rows) > 40  # shoulders, arms and neck, not a stray dot
    # Her head is near the top middle and her body fills the lower left half; the flag and
    # the shuttle on the right hold no person.
    assert rows.min() >= 8 and cols.max() < 48
    upper_body = mask[24:40, 8:44]  # the shoulder line crosses this band
    assert upper_body.sum() >= 15
    assert mask[:, 48:].sum() == 0


def test_skeleton_mask_is_empty_without_a_person(pose_data):
    from models.pose.skeleton_mask import skeleton_mask

    empty = skeleton_mask(np.full((80, 80, 3), 128, np.uint8), size=32)
    assert empty.shape == (32, 32) and not empty.any()
    # MediaPipe sees no person in a stick figure either, which the CLI test relies on.
    assert not skeleton_mask(next((pose_data / "eiffel" / "arms_up").glob("*.jpg"))).any()


def test_draw_skeletons_puts_each_limb_where_its_joints_are():
    from models.pose.skeleton_mask import draw_skeletons

    skeleton = np.zeros((33, 3), np.float32)
    skeleton[11] = (0.25, 0.5, 0.9)  # left shoulder
    skeleton[12] = (0.75, 0.5, 0.9)  # right shoulder
    skeleton[13] = (0.25, 0.9, 0.2)  # left elbow, not visible: its upper arm is not drawn
    mask = draw_skeletons([skeleton], 33)  # line width round(33 / 32) = 1
    expected = np.zeros((33, 33), np.float32)
    expected[16, 8:25] = 1.0  # (0.25 .. 0.75) * 32 along row 0.5 * 32
    np.testing.assert_array_equal(mask, expected)


# === Networks ===


def test_siamese_towers_share_one_backbone():
    import keras

    from models.pose import siamese

    backbone = tiny_resnet()
    model = siamese.siamese_network(backbone, 32, pose_branch=False)
    normalise = model.get_layer("image_tower").get_layer("normalise")
    head = 3 * 2  # fc1, fc2 and "same": a kernel and a bias each
    # One copy of the backbone's variables, not two.
    assert len(model.weights) == len(backbone.weights) + len(normalise.weights) + head
    assert {id(v) for v in backbone.weights} <= {id(v) for v in model.weights}
    # Shared weights and an order-free pair encoding: swapping the photos changes nothing.
    rng = np.random.default_rng(0)
    a, b = (rng.uniform(0, 255, (3, 32, 32, 3)).astype(np.float32) for _ in range(2))
    forward = model.predict({"image_a": a, "image_b": b}, verbose=0)
    swapped = model.predict({"image_a": b, "image_b": a}, verbose=0)
    np.testing.assert_allclose(forward, swapped, atol=1e-6)
    assert forward.shape == (3, 1) and np.all((forward > 0) & (forward < 1))
    # "Last layer" training: only the head learns.
    assert len(model.trainable_weights) == head
    assert isinstance(model.get_layer("same"), keras.layers.Dense)


def test_full_training_tunes_the_backbone_but_not_its_batch_norm():
    import keras

    from models.pose import siamese

    backbone = tiny_resnet()
    model = siamese.siamese_network(backbone, 32, pose_branch=False, train_backbone=True)
    convolutions = [v for layer in backbone.layers if isinstance(layer, keras.layers.Conv2D)
                    for v in layer.trainable_weights]
    assert convolutions
    assert {id(v) for v in model.trainable_weights} == {
        id(v) for v in convolutions} | {id(v) for name in ("fc1", "fc2", "same")
                                        for v in model.get_layer(name).trainable_weights}


def test_pose_branch_adds_two_mask_inputs_through_one_small_cnn():
    from models.pose import siamese

    plain = siamese.siamese_network(tiny_resnet(), 32, pose_branch=False)
    with_pose = siamese.siamese_network(tiny_resnet(), 32, pose_branch=True, pose_size=48)
    shapes = {tensor.name: tuple(tensor.shape) for tensor in with_pose.inputs}
    assert shapes == {"image_a": (None, 32, 32, 3), "image_b": (None, 32, 32, 3),
                      "pose_a": (None, 48, 48, 1), "pose_b": (None, 48, 48, 1)}
    pose_tower = with_pose.get_layer("pose_tower")
    assert len(pose_tower.weights) == 3 * 2  # three convolutions, shared by both masks
    assert len(with_pose.weights) == len(plain.weights) + len(pose_tower.weights)
    rng = np.random.default_rng(1)
    images = [rng.uniform(0, 255, (2, 32, 32, 3)).astype(np.float32) for _ in range(2)]
    masks = [(rng.random((2, 48, 48, 1)) > 0.9).astype(np.float32) for _ in range(2)]
    forward = with_pose.predict({"image_a": images[0], "image_b": images[1],
                                 "pose_a": masks[0], "pose_b": masks[1]}, verbose=0)
    swapped = with_pose.predict({"image_a": images[1], "image_b": images[0],
                                 "pose_a": masks[1], "pose_b": masks[0]}, verbose=0)
    np.testing.assert_allclose(forward, swapped, atol=1e-6)
    # The masks matter: a different pose for b changes the answer.
    other = with_pose.predict({"image_a": images[0], "image_b": images[1],
                               "pose_a": masks[0], "pose_b": masks[0]}, verbose=0)
    assert not np.allclose(forward, other)


def write_pose_only_site(root: Path, photos_per_posture: int, seed: int) -> Path:
    """One site whose photos are the same wall with fresh noise: only the (stand-in) skeleton
    tells the two postures apart, so only the pose branch can learn the label."""
    rng = np.random.default_rng(seed)
    wall = rng.integers(60, 200, (32, 32, 3))
    for posture in ARM_JOINTS:
        folder = root / "wall" / posture
        folder.mkdir(parents=True)
        for k in range(photos_per_posture):
            noisy = np.clip(wall + rng.integers(-20, 21, wall.shape), 0, 255).astype(np.uint8)
            Image.fromarray(noisy).save(folder / f"{k}.png")
    return root


def test_the_pose_branch_learns_a_label_that_only_the_masks_carry(tmp_path, monkeypatch):
    import keras

    from models.pose import siamese
    from models.pose import skeleton_mask as skeleton_module
    from models.pose.train import pair_inputs, skeleton_masks

    monkeypatch.setattr(skeleton_module, "detect_skeletons", posture_skeletons)
    # Same-site pairs only: positives share a posture, negatives do not.
    train_set = scan_pose_dataset(write_pose_only_site(tmp_path / "train", 6, seed=0))
    test_set = scan_pose_dataset(write_pose_only_site(tmp_path / "test", 4, seed=1))
    train_pairs, test_pairs = build_pairs(train_set, seed=0), build_pairs(test_set, seed=0)
    assert {p.kind for p in train_pairs if not p.same} == {SAME_SITE_OTHER_POSE}

    def inputs_of(dataset, pairs):
        photos = list(dataset.photos)
        masks = skeleton_masks(photos, ["siamese_pose"], 32)  # the CLI's own mask step
        assert all(mask.sum() > 20 for mask in masks)  # a skeleton in every photo
        index = {photo.path: row for row, photo in enumerate(photos)}
        return pair_inputs(pairs, index, pose_pairs.load_photos(photos, 32), masks)

    train_inputs, train_labels = inputs_of(train_set, train_pairs)
    test_inputs, test_labels = inputs_of(test_set, test_pairs)
    assert test_labels.mean() == 0.5  # balanced: chance is 50%

    keras.utils.set_random_seed(0)
    model = siamese.compile_siamese(
        siamese.siamese_network(tiny_resnet(), 32, pose_branch=True, pose_size=32),
        learning_rate=0.05, momentum=0.9)
    model.fit(train_inputs, train_labels, epochs=40, batch_size=16, verbose=0)

    def accuracy(inputs):
        predictions = model.predict(inputs, verbose=0)
        return float(np.mean((predictions > 0.5) == (test_labels > 0.5))), predictions

    with_masks, predicted = accuracy(test_inputs)
    blank = {name: (np.zeros_like(value) if name.startswith("pose") else value)
             for name, value in test_inputs.items()}
    without_masks, predicted_blank = accuracy(blank)
    # The pose branch decides: with the masks the unseen pairs are told apart; with the same
    # network's masks zeroed, both photos of a pair look alike to it and it does no better
    # than chance on this balanced set.
    assert with_masks >= 0.9
    assert without_masks <= 0.6
    assert np.abs(predicted - predicted_blank).max() > 0.3


def test_saved_network_loads_in_safe_mode_with_the_same_predictions(tmp_path):
    from models.pose import siamese

    model = siamese.compile_siamese(
        siamese.siamese_network(tiny_resnet(), 32, pose_branch=True, pose_size=32))
    rng = np.random.default_rng(2)
    inputs = {"image_a": rng.uniform(0, 255, (2, 32, 32, 3)).astype(np.float32),
              "image_b": rng.uniform(0, 255, (2, 32, 32, 3)).astype(np.float32),
              "pose_a": (rng.random((2, 32, 32, 1)) > 0.8).astype(np.float32),
              "pose_b": (rng.random((2, 32, 32, 1)) > 0.8).astype(np.float32)}
    model.save(tmp_path / "net.keras")
    loaded = siamese.load_siamese(tmp_path / "net.keras")
    np.testing.assert_allclose(loaded.predict(inputs, verbose=0),
                               model.predict(inputs, verbose=0), atol=1e-6)
    assert "Lambda" not in (tmp_path / "net.keras").read_bytes().decode("latin-1")


def test_threshold_baseline_on_hand_computed_scores():
    from models.pose import siamese

    a = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    b = np.array([[0.0, 2.0], [2.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(siamese.cosine_similarity(a, b), [0.0, 1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(siamese.euclidean_distance(a, b),
                               [np.sqrt(5.0), np.sqrt(2.0), 5.0], atol=1e-6)

    scores, labels = [0.1, 0.4, 0.35, 0.8], [False, True, False, True]
    rule = siamese.fit_threshold(scores, labels, higher_means_same=True, metric="cosine")
    assert rule.threshold == pytest.approx(0.375) and rule.training_accuracy == 1.0
    assert rule.predict([0.37, 0.38]).tolist() == [False, True]
    distances = siamese.fit_threshold([3.0, 1.0, 2.5, 0.5], labels, higher_means_same=False,
                                      metric="euclidean")
    assert distances.threshold == pytest.approx(1.75) and distances.training_accuracy == 1.0
    assert distances.accuracy([1.0, 2.0], [True, True]) == 0.5
    # Cuts at 0.125 and 0.65 both get 3 of 4 right; 0.65 sits in the wider gap (0.5 .. 0.8).
    tied = siamese.fit_threshold([0.1, 0.15, 0.5, 0.8], labels, higher_means_same=True,
                                 metric="cosine")
    assert tied.threshold == pytest.approx(0.65) and tied.training_accuracy == 0.75


def test_augmentation_flips_a_photo_and_its_skeleton_mask_together(pose_data):
    from models.pose.train import pair_inputs

    pairs = build_pairs(scan_pose_dataset(pose_data), seed=0)
    index = {photo.path: 0 for pair in pairs for photo in (pair.a, pair.b)}
    # One grey photo, bright on the left (colour jitter keeps grey grey and keeps the order of
    # brightness), and one mask with its left column set.
    image = np.zeros((1, 16, 16, 3), np.uint8)
    image[0, :, :8] = 200
    image[0, :, 8:] = 40
    mask = np.zeros((1, 16, 16), np.float32)
    mask[0, :, 0] = 1.0
    inputs, labels = pair_inputs(pairs, index, image, mask, rng=np.random.default_rng(0))
    assert labels.ravel().tolist() == [float(pair.same) for pair in pairs]
    for side in ("a", "b"):
        photos, masks = inputs[f"image_{side}"], inputs[f"pose_{side}"][..., 0]
        right, left = photos[:, :, 8:].mean(axis=(1, 2, 3)), photos[:, :, :8].mean(axis=(1, 2, 3))
        photo_flipped = right > left
        mask_flipped = masks[:, :, -1].sum(axis=1) > 0
        np.testing.assert_array_equal(photo_flipped, mask_flipped)
        assert 0 < photo_flipped.sum() < len(pairs)  # both happen
        assert not np.allclose(photos[0], image[0])  # the colours were jittered
    plain, _ = pair_inputs(pairs[:1], index, image, mask)
    np.testing.assert_array_equal(plain["image_a"][0], image[0])


# === Loading ResNet50 through the resolver ===


def test_resnet50_loads_timms_own_checkpoint_through_the_resolver(tmp_path, monkeypatch):
    from models.pose import siamese

    tensors = write_timm_resnet50(tmp_path / "resnet50")
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(tmp_path))
    assert backbones.preset_format(tmp_path / "resnet50") == "timm"
    backbone = siamese.resnet50_backbone()
    assert type(backbone).__name__ == "ResNetBackbone"
    # keras-hub's timm converter moved the torch (out, in, kh, kw) kernels to Keras' layout.
    np.testing.assert_array_equal(backbone.get_layer("conv1_conv").kernel.numpy(),
                                  tensors["conv1.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(backbone.get_layer("stack3_block2_3_conv").kernel.numpy(),
                                  tensors["layer4.2.conv3.weight"].transpose(2, 3, 1, 0))
    mean, std = backbones.normalisation_stats(tmp_path / "resnet50")
    assert mean == (0.5, 0.4, 0.3) and std == (0.2, 0.25, 0.3)
    extractor = siamese.gap_feature_extractor(backbone, 32, mean=mean, std=std)
    assert extractor.output_shape == (None, 2048)  # the research's 2048-long feature vector


def test_resnet50_loads_a_keras_hub_preset_through_the_resolver(tiny_weights_dir, monkeypatch):
    from models.pose import siamese

    root, saved = tiny_weights_dir
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(root))
    assert backbones.preset_format(root / "resnet50") == "keras-hub"
    backbone = siamese.resnet50_backbone()
    assert len(backbone.weights) == len(saved)
    for loaded, expected in zip(backbone.weights, saved, strict=True):
        np.testing.assert_array_equal(loaded.numpy(), expected)
    assert backbones.normalisation_stats(root / "resnet50") == (backbones.IMAGENET_MEAN,
                                                             backbones.IMAGENET_STD)


def test_resnet50_folder_in_no_known_format_is_refused(tmp_path):
    from models.pose import siamese

    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 8}))
    with pytest.raises(ValueError, match="neither a timm config"):
        siamese.resnet50_backbone(tmp_path)


# === The CLI ===


@pytest.fixture(scope="module")
def trained_run(pose_data, tiny_weights_dir, tmp_path_factory) -> tuple[Path, str]:
    """`python -m models.train pose` on pose_data with the tiny ResNet: the baseline and both
    Last Layer networks, two epochs at 32 x 32, one site to each split. (run folder, stdout)."""
    import contextlib
    import io

    from models.pose import skeleton_mask as skeleton_module

    out = tmp_path_factory.mktemp("pose_run")
    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(stdout):
        # MediaPipe finds nobody in a stick figure, so the posture is handed to the mask drawer
        # directly: the pose branch then reads masks that carry the label.
        patch.setattr(skeleton_module, "detect_skeletons", posture_skeletons)
        patch.setenv("INSTAVIS_WEIGHTS_DIR", str(tiny_weights_dir[0]))
        code = main(["pose", "--data", str(pose_data), "--variants", "baseline", "siamese",
                     "siamese_pose", "--epochs", "2", "--input-size", "32", "--pose-size", "32",
                     "--batch-size", "8", "--validation-fraction", "0.25", "--test-fraction",
                     "0.25", "--out", str(out)])
    assert code == 0, stdout.getvalue()
    return out, stdout.getvalue()


def results_table(printed: str) -> str:
    """The results table and the line under it, as a pose command printed them."""
    start = re.search(r"^network", printed, re.MULTILINE).start()
    return printed[start:printed.index("the pairs it stopped on.", start)]


def test_cli_trains_on_a_site_split_reports_the_test_pairs_and_saves_safe_models(
        pose_data, trained_run, monkeypatch):
    from models.pose import siamese
    from models.pose import skeleton_mask as skeleton_module
    from models.pose.skeleton_mask import skeleton_mask
    from models.pose.train import pair_inputs

    monkeypatch.setattr(skeleton_module, "detect_skeletons", posture_skeletons)
    out, printed = trained_run
    table = printed[printed.index("network"):].splitlines()
    assert table[0].split() == ["network", "input", "size", "test", "accuracy", "the", "paper",
                                "reported"]
    rows = {line[:34].strip(): line for line in table[1:5]}
    assert set(rows) == {"ResNet50 GAP + cosine threshold", "ResNet50 GAP + Euclidean threshold",
                         "ResNet50 Last Layer+FCNN", "ResNet50 Last Layer+FCNN+POSE"}
    assert rows["ResNet50 Last Layer+FCNN"].rstrip().endswith("58%")
    assert "32x32 + 32x32" in rows["ResNet50 Last Layer+FCNN+POSE"]
    assert rows["ResNet50 Last Layer+FCNN+POSE"].rstrip().endswith("68%")
    # Three sites, one to each split; each site gives 2 poses x C(3, 2) positive pairs.
    assert ("train 6 positive / 6 negative, validation 6 positive / 6 negative, "
            "test 6 positive / 6 negative") in printed
    assert "split by site: no site (so no photo) is in two splits" in printed
    assert "skeletons: found in 18 of 24 photos" in printed  # the 6 site-alone photos: none

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"]["by"] == "site" and metrics["split"]["reported_on"] == "test"
    sites = metrics["split"]["sites"]
    assert sorted(sites["train"] + sites["validation"] + sites["test"]) == list(SITES)
    assert metrics["pairs"]["test"] == {"positive": 6, "negative": 6}
    results = {(r["variant"], r["network"]): r for r in metrics["results"]}
    assert len(results) == 4
    for r in metrics["results"]:
        assert "validation_accuracy" not in r
        assert f"{100 * r['test_accuracy']:.1f}%" in rows[r["network"]]

    # The saved networks load in safe mode and reproduce the reported figures on the pairs of
    # the test site, which no training or validation pair shows.
    split = pose_pairs.make_pair_split(pose_data, seed=0, validation_fraction=0.25,
                                       test_fraction=0.25)
    assert {p.site for pair in split.test for p in (pair.a, pair.b)} == set(sites["test"])
    photos = sorted({p for pairs in split.splits().values() for pair in pairs
                     for p in (pair.a, pair.b)})
    index = {photo.path: row for row, photo in enumerate(photos)}
    images = pose_pairs.load_photos(photos, 32)
    masks = np.stack([skeleton_mask(photo.path, 32) for photo in photos])
    for variant, uses_pose in (("siamese", False), ("siamese_pose", True)):
        reported = next(r for r in metrics["results"] if r["variant"] == variant)
        model = siamese.load_siamese(out / f"{variant}.keras")
        inputs, labels = pair_inputs(split.test, index, images, masks if uses_pose else None)
        predictions = model.predict(inputs, verbose=0)
        loss = float(np.mean(-(labels * np.log(predictions)
                               + (1 - labels) * np.log(1 - predictions))))
        assert loss == pytest.approx(reported["details"]["test_loss"], abs=1e-4)
        accuracy = float(np.mean((predictions > 0.5) == (labels > 0.5)))
        assert accuracy == pytest.approx(reported["test_accuracy"])
        assert reported["details"]["epochs_run"] == 2

    # metrics.json saves the split: every split's photos, and its pairs in the order built.
    saved = metrics["split"]
    for name, pairs in split.splits().items():
        assert [(pose_data / p["a"], pose_data / p["b"], p["same"], p["kind"])
                for p in saved["pairs"][name]] == [(p.a.path, p.b.path, p.same, p.kind)
                                                    for p in pairs]
        assert saved["files"][name] == sorted(path.relative_to(pose_data).as_posix()
                                              for path in split.photos(name))


# === Evaluating a run again ===


def _evaluate(argv: list[str]) -> tuple[int, str, str]:
    """`python -m models.evaluate` in process: (exit code, stdout, stderr)."""
    import contextlib
    import io

    from models.evaluate import main as evaluate_main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = evaluate_main(argv)
    return code, out.getvalue(), err.getvalue()


def _copy_run(run: Path, to: Path, change) -> Path:
    """A copy of a run folder whose metrics.json `change(metrics)` has edited."""
    import shutil

    shutil.copytree(run, to)
    metrics = json.loads((to / "metrics.json").read_text())
    change(metrics)
    (to / "metrics.json").write_text(json.dumps(metrics))
    return to


def test_evaluate_scores_the_saved_test_pairs_to_the_figures_training_reported(
        trained_run, tiny_weights_dir, tmp_path, monkeypatch):
    from models.pose import skeleton_mask as skeleton_module

    monkeypatch.setattr(skeleton_module, "detect_skeletons", posture_skeletons)
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(tiny_weights_dir[0]))  # the baseline's ResNet
    run, trained_printed = trained_run
    code, printed, err = _evaluate(["pose", "--model", str(run), "--json",
                                    str(tmp_path / "again.json")])
    assert code == 0, err
    saved = json.loads((run / "metrics.json").read_text())["results"]
    again = json.loads((tmp_path / "again.json").read_text())
    assert [(r["variant"], r["network"]) for r in again["results"]] == [
        (r["variant"], r["network"]) for r in saved]
    for then, now in zip(saved, again["results"], strict=True):
        assert now["test_accuracy"] == pytest.approx(then["test_accuracy"], abs=1e-9)
        if then["variant"] != "baseline":
            assert now["details"]["test_loss"] == pytest.approx(then["details"]["test_loss"],
                                                                abs=1e-5)
    assert again["test_pairs"] == {"positive": 6, "negative": 6}
    assert again["same_as_training"] is True
    assert results_table(printed) == results_table(trained_printed)
    assert "same as the results saved at training" in printed

    # The figures are scored again, not copied: with the saved ones spoiled, the evaluation
    # still prints the real ones and says they differ.
    def spoil(metrics):
        for row in metrics["results"]:
            row["test_accuracy"] = -1.0

    spoiled = _copy_run(run, tmp_path / "spoiled", spoil)
    code, printed, err = _evaluate(["pose", "--model", str(spoiled)])
    assert code == 0, err
    assert results_table(printed) == results_table(trained_printed)
    assert "differs from the results saved at training" in printed


def test_evaluate_without_a_saved_split_says_so_in_one_line(trained_run, tmp_path):
    run, _ = trained_run
    old = _copy_run(run, tmp_path / "old", lambda metrics: metrics["split"].pop("pairs"))
    code, printed, err = _evaluate(["pose", "--model", str(old)])
    assert code == 1 and printed == ""
    message = one_line(err)
    assert "no saved split" in message and "python -m models.train pose" in message
    code, _, err = _evaluate(["pose", "--model", str(tmp_path / "nowhere")])
    assert code == 1 and "--model DIR" in one_line(err)


def test_cli_refuses_a_site_split_of_too_few_sites_in_one_line(tmp_path, tiny_weights_dir,
                                                                monkeypatch, capsys):
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(tiny_weights_dir[0]))
    make_layout(tmp_path / "data", ["a/up/1.jpg", "a/up/2.jpg", "b/up/1.jpg", "b/up/2.jpg"])
    assert main(["pose", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run")]) == 1
    message = one_line(capsys.readouterr().err)
    assert "at least 3 sites" in message and "has 2" in message


def test_cli_stops_early_when_the_validation_loss_stops_falling(
        pose_data, tiny_weights_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(tiny_weights_dir[0]))
    # A learning rate too small to move a float32 weight: the validation loss never changes,
    # and an equal loss is no improvement, so patience 2 stops after epoch 3. (The training
    # loss does change, with dropout and augmentation, so monitoring it would stop elsewhere.)
    code = main(["pose", "--data", str(pose_data), "--variants", "siamese", "--epochs", "8",
                 "--patience", "2", "--learning-rate", "1e-12", "--input-size", "32",
                 "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    (result,) = json.loads((tmp_path / "metrics.json").read_text())["results"]
    assert result["details"]["epochs_run"] == 3 and result["details"]["best_epoch"] == 1


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.mark.parametrize(("argv", "fragment"), [
    ([], "TASK"),
    (["sing"], "invalid choice: 'sing'"),
    (["pose"], "--data"),
    (["pose", "--data", "x", "--epochs", "0"], "below the minimum"),
    (["pose", "--data", "x", "--variants", "resnet"], "invalid choice: 'resnet'"),
    (["pose", "--data", "x", "--input-size", "big"], "not a whole number"),
    (["pose", "--data", "x", "--unknown"], "unrecognized arguments"),
])
def test_cli_refuses_a_bad_task_or_flag_in_one_line(argv, fragment, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert fragment in one_line(captured.err)
    assert captured.out == ""


def test_cli_help_lists_the_pose_task(capsys):
    assert main(["--help"]) == 0
    assert "pose" in capsys.readouterr().out


def test_cli_reports_missing_or_misshapen_data_in_one_line(tmp_path, capsys):
    assert main(["pose", "--data", str(tmp_path / "nowhere")]) == 1
    assert "DIR/SITE/POSE/*.jpg" in one_line(capsys.readouterr().err)
    make_layout(tmp_path / "flat", ["a.jpg", "b.jpg"])
    assert main(["pose", "--data", str(tmp_path / "flat")]) == 1
    assert "DIR/SITE/POSE/*.jpg" in one_line(capsys.readouterr().err)


def test_cli_reports_an_unreadable_photo_in_one_line(tiny_weights_dir, tmp_path, monkeypatch,
                                                     capsys):
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(tiny_weights_dir[0]))
    data = write_dataset(tmp_path / "data")
    broken = data / "pisa" / "arms_out" / "1.jpg"
    broken.write_bytes(broken.read_bytes()[:200])  # a truncated JPEG
    assert main(["pose", "--data", str(data), "--out", str(tmp_path / "run")]) == 1
    message = one_line(capsys.readouterr().err)
    assert str(broken) in message and "truncated" in message


def test_cli_says_when_timm_weights_need_safetensors(tmp_path, monkeypatch, pose_data, capsys):
    import importlib.util

    folder = tmp_path / "resnet50"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architecture": "resnet50"}))
    (folder / "model.safetensors").write_bytes(EMPTY_SAFETENSORS)
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(tmp_path))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: None
                        if name == "safetensors" else real_find_spec(name, *rest))
    assert main(["pose", "--data", str(pose_data), "--out", str(tmp_path / "run")]) == 1
    assert "pip install safetensors" in one_line(capsys.readouterr().err)


def test_cli_reports_missing_weights_with_the_resolvers_summary(pose_data, tmp_path, capsys):
    import weights

    with pytest.raises(weights.WeightsUnavailable) as caught:
        weights.resolve("resnet50")
    assert main(["pose", "--data", str(pose_data), "--out", str(tmp_path / "run")]) == 1
    assert one_line(capsys.readouterr().err) == caught.value.summary
    assert not (tmp_path / "run").exists()
