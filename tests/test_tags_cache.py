"""The tag research's data side: reading MIRFLICKR-25K (`models.tags.mirflickr`), the two
backbones (`models.tags.embedders`), the bottleneck cache (`models.tags.cache`, its Ray path
`models.tags.ray_cache`) and `python -m models.tags cache`.

Everything runs on a tiny MIRFLICKR-25K in the real layout (tests/tags_data.py) and on tiny
CLIP and EfficientNet presets loaded through `weights.resolve` with $INSTAVIS_WEIGHTS_DIR.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from models.tags import cache as tag_cache
from models.tags.cache import (
    CacheError,
    MissingEmbeddings,
    build_cache,
    cache_folder,
    content_key,
    default_cache_dir,
    lookup,
    read_cache,
    read_failed,
)
from models.tags.mirflickr import CONCEPTS, DatasetError, read_dataset
from tests.tags_data import make_mirflickr, tiny_efficientnet_root

N_PHOTOS = 30
CORRUPT = 2


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def weights_root(tmp_path_factory) -> Path:
    """A weights root with a tiny CLIP at clip/ and a tiny EfficientNet at efficientnet_b0/."""
    from benchmarks.stand_ins.tiny_clip import build_tiny_clip_preset

    root = tmp_path_factory.mktemp("tag_weights")
    build_tiny_clip_preset(root / "clip")
    return tiny_efficientnet_root(root)


@pytest.fixture
def weights_dir(weights_root, monkeypatch) -> Path:
    import models.clip

    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(weights_root))
    models.clip.reset_default()
    yield weights_root
    models.clip.reset_default()


@pytest.fixture(scope="module")
def mirflickr(tmp_path_factory) -> dict:
    return make_mirflickr(tmp_path_factory.mktemp("mirflickr"), n_photos=N_PHOTOS,
                          corrupt=CORRUPT)


def read_quietly(root, annotations="all"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_dataset(root, annotations)


def embedder(name: str):
    from models.tags.embedders import load_embedder

    return load_embedder(name)


@pytest.fixture
def no_ray(monkeypatch):
    """Any import of Ray, or of the Ray path, fails while the test runs."""
    import models.tags

    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "models.tags.ray_cache", None)
    monkeypatch.delattr(models.tags, "ray_cache", raising=False)


# === Reading MIRFLICKR-25K ===


def test_all_annotations_read_as_the_generator_drew_them(mirflickr):
    with pytest.warns(UserWarning, match=f"{mirflickr['unknown_lines']} MIRFLICKR-25K "
                                         "annotation lines"):
        dataset = read_dataset(mirflickr["root"])
    assert dataset.photos == tuple(mirflickr["photos"])
    # By number, not by name: im2 comes before im10.
    assert [p.name for p in dataset.photos[:11]] == [f"im{n}.jpg" for n in range(1, 12)]
    assert dataset.concepts == CONCEPTS and dataset.annotations == "all"
    assert dataset.labels.dtype == np.uint8
    np.testing.assert_array_equal(dataset.labels, mirflickr["labels"])
    assert dataset.unknown_lines == mirflickr["unknown_lines"] and dataset.left_out == ()
    # Only the drawn concepts occur; the other 18 have empty files.
    occurring = {CONCEPTS[i] for i in np.flatnonzero(dataset.labels.sum(axis=0))}
    assert occurring == set(mirflickr["present"])


def test_relevant_annotations_use_the_r1_files_and_say_what_is_left_out(mirflickr):
    with pytest.warns(UserWarning, match="left out: animals, baby"):
        dataset = read_dataset(mirflickr["root"], "relevant")
    assert dataset.concepts == mirflickr["relevant_concepts"]
    np.testing.assert_array_equal(dataset.labels, mirflickr["relevant_labels"])
    assert set(dataset.left_out) == set(CONCEPTS) - set(dataset.concepts)
    assert "no relevant annotations for animals" in dataset.summary()
    # relevant is a subset of all
    everything = read_quietly(mirflickr["root"])
    columns = [CONCEPTS.index(c) for c in dataset.concepts]
    assert np.all(dataset.labels <= everything.labels[:, columns])
    assert dataset.labels.sum() < everything.labels[:, columns].sum()


def test_a_folder_that_is_not_mirflickr_fails_in_one_line_saying_what_goes_where(tmp_path):
    with pytest.raises(DatasetError, match="is not a folder"):
        read_dataset(tmp_path / "nowhere")
    with pytest.raises(DatasetError) as caught:
        read_dataset(tmp_path)
    assert str(tmp_path / "mirflickr") in str(caught.value) and "im1.jpg" in str(caught.value)
    assert "\n" not in str(caught.value)

    root = tmp_path / "small"
    make_mirflickr(root, n_photos=3, corrupt=0)
    annotations = root / "mirflickr25k_annotations_v080"
    for r1 in annotations.glob("*_r1.txt"):
        r1.unlink()
    with pytest.raises(DatasetError, match="no <concept>_r1.txt file for any concept"):
        read_dataset(root, "relevant")
    (annotations / "dog.txt").unlink()
    with pytest.raises(DatasetError, match="has no dog.txt; expected one file"):
        read_dataset(root)
    (annotations / "dog.txt").write_text("1\n\n3\nim2\n")
    with pytest.raises(DatasetError, match=r"dog.txt, line 4: expected a photo number, got 'im2'"):
        read_dataset(root)
    (annotations / "dog.txt").write_text("1\n\n3\n")
    assert read_quietly(root).labels[:, CONCEPTS.index("dog")].tolist() == [1, 0, 1]
    shutil.rmtree(annotations)
    with pytest.raises(DatasetError, match="mirflickr25k_annotations_v080"):
        read_dataset(root)
    with pytest.raises(ValueError, match="expected 'all' or 'relevant'"):
        read_dataset(root, "some")


# === square_resize, decoding and orientation ===


def test_square_resize_takes_the_central_square_and_keeps_a_fitting_photo_as_it_is():
    from models.tags.embedders import square_resize

    # 4 x 12: left third red, middle third green, right third blue.
    photo = np.zeros((4, 12, 3), np.uint8)
    photo[:, :4, 0] = photo[:, 4:8, 1] = photo[:, 8:, 2] = 200
    square = np.asarray(square_resize(photo, 2))
    assert square.dtype == np.uint8 and square.shape == (2, 2, 3)
    np.testing.assert_array_equal(square, np.broadcast_to([0, 200, 0], (2, 2, 3)))
    # Tall: the central rows.
    tall = np.zeros((12, 4, 3), np.uint8)
    tall[4:8] = 90
    np.testing.assert_array_equal(np.asarray(square_resize(tall, 4)), np.full((4, 4, 3), 90))
    rng = np.random.default_rng(0)
    fitting = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(square_resize(fitting, 8)), fitting)
    # Antialiased: shrinking a fine checkerboard gives grey, not one of its two colours.
    board = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    shrunk = np.asarray(square_resize(np.stack([board] * 3, -1), 8))
    assert np.all(np.abs(shrunk.astype(int) - 128) <= 2)


def test_decoding_matches_pillow_and_applies_exif_orientation_as_pillow_does(tmp_path):
    import tensorflow as tf

    from models.tags.decoding import decode_photo

    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG", exif=exif.tobytes())
        expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(buffer.getvalue()))))
        got = decode_photo(tf.constant(buffer.getvalue()), tf.constant(orientation)).numpy()
        np.testing.assert_array_equal(got, expected, err_msg=f"orientation {orientation}")
    # JPEG: the accurate integer DCT gives exactly Pillow's pixels.
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, "JPEG", quality=90)
    np.testing.assert_array_equal(
        decode_photo(tf.constant(buffer.getvalue()), tf.constant(1)).numpy(),
        np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")))


# === Embedders ===


def test_embedders_load_through_the_resolver_once_with_a_key_of_their_weights(weights_dir,
                                                                              tmp_path):
    from models.tags.embedders import fingerprint, load_embedder

    clip = load_embedder("clip")
    assert clip is load_embedder("clip")
    assert clip.key == f"clip:{fingerprint(weights_dir / 'clip', 32)}"
    assert (clip.name, clip.input_size, clip.dimension) == ("clip", 32, 16)
    efficientnet = load_embedder("efficientnet")
    assert (efficientnet.input_size, efficientnet.dimension) == (224, 1280)
    assert efficientnet.key.startswith("efficientnet:") and efficientnet.key != clip.key

    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    vectors = clip.embed(batch)
    assert vectors.dtype == np.float32 and vectors.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match=r"\(N, 32, 32, 3\) uint8"):
        clip.embed(batch[:, :16])
    with pytest.raises(ValueError, match=r"photos\[1\]"):
        clip.embed_photos([batch[0], batch[0].astype(np.float32)])
    assert clip.embed_photos([]).shape == (0, 16)

    # The key follows the bytes, not the place: a copy keys alike, one changed byte does not.
    copy = shutil.copytree(weights_dir / "clip", tmp_path / "clip")
    assert fingerprint(copy, 32) == fingerprint(weights_dir / "clip", 32)
    config = copy / "config.json"
    config.write_text(config.read_text() + " ")
    assert fingerprint(copy, 32) != fingerprint(weights_dir / "clip", 32)
    assert fingerprint(weights_dir / "clip", 64) != fingerprint(weights_dir / "clip", 32)


def test_missing_backbone_weights_raise_the_resolvers_error(tmp_path, monkeypatch):
    import weights
    from models.tags.embedders import load_embedder

    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(weights.WeightsUnavailable) as caught:
        load_embedder("efficientnet")
    assert "efficientnet_b0" in caught.value.summary
    with pytest.raises(ValueError, match="backbone: got 'inception'"):
        load_embedder("inception")


# === The cache ===


def test_cache_embeds_each_photo_once_logs_the_corrupt_ones_and_never_imports_ray(
        weights_dir, mirflickr, tmp_path, no_ray):
    dataset = read_quietly(mirflickr["root"])
    clip = embedder("clip")
    first = build_cache(dataset.photos, clip, tmp_path, batch_size=8, chunk=8, progress=False)
    valid, corrupt = mirflickr["valid"], mirflickr["corrupt"]
    assert (first.embedded, first.reused) == (len(valid), 0)
    assert [path for path, _ in first.failed] == corrupt
    reasons = dict(first.failed)
    assert "Invalid JPEG data" in reasons[corrupt[0]]
    assert "Unknown image file format" in reasons[corrupt[1]]
    assert first.images_per_second == pytest.approx(first.embedded / first.seconds)
    assert read_failed(tmp_path, clip.key) == list(first.failed)

    folder = cache_folder(tmp_path, clip.key)
    assert folder == first.folder and folder.name == clip.key.replace(":", "-")
    parts = sorted(p.name for p in folder.glob("part-*.npz"))
    assert parts == [f"part-{i:05d}.npz" for i in range(-(-len(valid) // 8))]
    cached = read_cache(tmp_path, clip.key)
    keys = [content_key(path) for path in valid]
    assert sorted(cached) == sorted(keys)
    vectors = lookup(tmp_path, clip.key, keys)
    assert vectors.shape == (len(valid), 16) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert len({tuple(v) for v in vectors.round(5)}) == len(valid)  # no photo twice, none lost

    second = build_cache(dataset.photos, clip, tmp_path, batch_size=8, chunk=8, progress=False)
    assert (second.embedded, second.reused, len(second.failed)) == (0, len(valid), CORRUPT)
    assert sorted(p.name for p in folder.glob("part-*.npz")) == parts

    with pytest.raises(MissingEmbeddings, match=f"2 of {len(keys) + 2} photos have no"):
        lookup(tmp_path, clip.key, keys + [content_key(corrupt[0]), "0" * 64])
    assert "ray" not in sys.modules or sys.modules["ray"] is None


def test_cached_vectors_are_what_inference_computes_from_the_decoded_photo(
        weights_dir, mirflickr, tmp_path):
    from models.images import load_image

    # A rotated photo too: its EXIF orientation must count in training as it does in the app.
    rotated = tmp_path / "rotated.jpg"
    pixels = np.asarray(Image.open(mirflickr["valid"][0]).convert("RGB"))
    landscape = np.concatenate([pixels, pixels[:, :40]], axis=1)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(landscape).save(rotated, "JPEG", quality=90, exif=exif.tobytes())
    photos = [*mirflickr["valid"][:6], rotated]
    for name in ("clip", "efficientnet"):
        model = embedder(name)
        build_cache(photos, model, tmp_path / "cache", batch_size=4, progress=False)
        cached = lookup(tmp_path / "cache", model.key, [content_key(p) for p in photos])
        decoded = [load_image(photo) for photo in photos]
        assert decoded[-1].shape[0] > decoded[-1].shape[1]  # load_image turned it upright
        np.testing.assert_allclose(model.embed_photos(decoded), cached, atol=1e-5,
                                   err_msg=name)
        unturned = model.embed_photos([np.asarray(Image.open(rotated).convert("RGB"))])[0]
        assert np.abs(unturned - cached[-1]).max() > 1e-3


def test_a_killed_build_resumes_with_exactly_the_rest_and_ends_as_an_unbroken_one(
        weights_dir, mirflickr, tmp_path, monkeypatch):
    dataset = read_quietly(mirflickr["root"])
    clip = embedder("clip")
    write_part = tag_cache._write_part
    written = []

    def dies_on_the_second_part(path, keys, vectors):
        if written:
            raise KeyboardInterrupt("killed")
        write_part(path, keys, vectors)
        written.append(len(keys))

    monkeypatch.setattr(tag_cache, "_write_part", dies_on_the_second_part)
    with pytest.raises(KeyboardInterrupt):
        build_cache(dataset.photos, clip, tmp_path / "resumed", batch_size=4, chunk=8,
                    progress=False)
    monkeypatch.setattr(tag_cache, "_write_part", write_part)
    folder = cache_folder(tmp_path / "resumed", clip.key)
    assert written == [8] and len(read_cache(tmp_path / "resumed", clip.key)) == 8
    assert not list(folder.glob(".writing-*"))  # the interrupted write left nothing behind
    (folder / ".writing-999-part-00001.npz").write_bytes(b"half a part")  # as a kill would

    resumed = build_cache(dataset.photos, clip, tmp_path / "resumed", batch_size=4, chunk=8,
                          progress=False)
    valid = len(mirflickr["valid"])
    assert (resumed.embedded, resumed.reused) == (valid - 8, 8)
    assert not list(folder.glob(".writing-*"))
    unbroken = build_cache(dataset.photos, clip, tmp_path / "unbroken", batch_size=8, chunk=8,
                           progress=False)
    assert unbroken.embedded == valid
    got, expected = (read_cache(tmp_path / "resumed", clip.key),
                     read_cache(tmp_path / "unbroken", clip.key))
    assert got.keys() == expected.keys()
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], atol=1e-6)


def test_changed_and_repeated_photos_and_another_backbone(weights_dir, mirflickr, tmp_path):
    photos = [Path(shutil.copy(p, tmp_path / p.name)) for p in mirflickr["valid"][:5]]
    clip = embedder("clip")
    cache_dir = tmp_path / "cache"
    assert build_cache(photos, clip, cache_dir, progress=False).embedded == 5
    old_key = content_key(photos[2])
    Image.open(mirflickr["valid"][6]).save(photos[2])  # new bytes under the old name
    repeated = Path(shutil.copy(photos[0], tmp_path / "copy of im1.jpg"))
    report = build_cache([*photos, repeated], clip, cache_dir, progress=False)
    assert (report.embedded, report.reused, report.failed) == (1, 5, ())
    cached = read_cache(cache_dir, clip.key)
    assert content_key(photos[2]) in cached and old_key in cached and len(cached) == 6

    # The same content twice in one run is embedded once.
    fresh = build_cache([photos[0], repeated, photos[1]], clip, tmp_path / "fresh",
                        progress=False)
    assert (fresh.embedded, fresh.reused) == (2, 1)

    efficientnet = embedder("efficientnet")
    other = build_cache(photos, efficientnet, cache_dir, progress=False)
    assert other.embedded == 5 and other.folder != report.folder
    assert sorted(p.name for p in cache_dir.iterdir()) == sorted(
        [clip.key.replace(":", "-"), efficientnet.key.replace(":", "-")])
    assert lookup(cache_dir, efficientnet.key, [content_key(photos[0])]).shape == (1, 1280)
    assert len(read_cache(cache_dir, clip.key)) == 6  # untouched


def test_a_build_on_a_folder_another_build_holds_fails_in_one_line(weights_dir, mirflickr,
                                                                    tmp_path):
    import fcntl

    clip = embedder("clip")
    folder = cache_folder(tmp_path, clip.key)
    folder.mkdir(parents=True)
    with open(folder / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(CacheError, match="Another cache build is writing"):
            build_cache(mirflickr["valid"][:1], clip, tmp_path, progress=False)
    assert build_cache(mirflickr["valid"][:1], clip, tmp_path, progress=False).embedded == 1


def test_default_cache_dir_is_under_the_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTAVIS_DATA_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path / "tags" / "cache"


def test_ray_path_without_ray_says_how_to_install_it(weights_dir, mirflickr, tmp_path,
                                                     monkeypatch):
    from models.tags.ray_cache import RayBatches

    monkeypatch.setitem(sys.modules, "ray", None)  # the Ray path's module imports; Ray does not
    with pytest.raises(CacheError, match=r'pip install "ray\[data\]"'):
        build_cache(mirflickr["valid"][:2], embedder("clip"), tmp_path, progress=False,
                    producer=RayBatches("local"))


# === The command ===


def test_cache_command_reports_in_a_few_lines_and_resumes(weights_dir, mirflickr, tmp_path,
                                                         capsys):
    from models.tags.__main__ import main

    argv = ["cache", "--data", str(mirflickr["root"]), "--cache", str(tmp_path),
            "--batch-size", "8"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    valid = len(mirflickr["valid"])
    assert f"{N_PHOTOS + CORRUPT} photos, 24 concepts" in out
    assert f"embedded {valid}, reused 0, failed {CORRUPT}" in out
    assert mirflickr["corrupt"][0].name in out and "failed.tsv" in out
    assert len(out.strip().splitlines()) <= 4
    assert main(argv + ["--annotations", "relevant", "--backbone", "clip"]) == 0
    out = capsys.readouterr().out
    assert f"embedded 0, reused {valid}" in out and "no relevant annotations for" in out


def test_cache_command_fails_in_one_line(weights_dir, mirflickr, tmp_path, monkeypatch,
                                         capsys):
    import weights
    from models.tags.__main__ import main

    assert main(["cache", "--data", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert "is not a folder" in err and len(err.strip().splitlines()) == 1
    assert main(["cache", "--data", str(mirflickr["root"]), "--workers", "2"]) == 2
    assert "--workers needs --ray" in capsys.readouterr().err
    assert main(["cache", "--data", str(mirflickr["root"]), "--backbone", "vgg"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    monkeypatch.setenv("INSTAVIS_WEIGHTS_DIR", str(tmp_path / "empty"))
    with pytest.raises(weights.WeightsUnavailable) as caught:
        weights.resolve("efficientnet_b0")
    assert main(["cache", "--data", str(mirflickr["root"]), "--backbone", "efficientnet"]) == 1
    assert one_line(capsys.readouterr().err) == caught.value.summary


def test_help_imports_nothing_heavy():
    code = ("import sys; from models.tags.__main__ import main; code = main(['cache', '--help']);"
            "heavy = [m for m in ('tensorflow', 'keras', 'ray') if m in sys.modules];"
            "print(code, heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, cwd=Path(__file__).resolve().parents[1])
    assert result.stdout.strip().splitlines()[-1] == "0 []"
    assert "--ray ADDRESS" in result.stdout


# === Ray ===


def ray_or_skip():
    """Ray, or skip the test (fail it when $CI is set: CI must run it)."""
    from tests.store_engines import in_ci

    try:
        import ray
    except ImportError:
        reason = 'the Ray path needs ray[data] (pip install -r requirements-dev.txt)'
        if in_ci():
            pytest.fail(f"CI is set but {reason}", pytrace=False)
        pytest.skip(reason)
    return ray


def test_ray_path_gives_the_local_paths_keys_vectors_and_failures(weights_dir, mirflickr,
                                                                   tmp_path):
    ray = ray_or_skip()
    dataset = read_quietly(mirflickr["root"])
    clip = embedder("clip")
    local = build_cache(dataset.photos, clip, tmp_path / "local", batch_size=8, chunk=8,
                        progress=False)
    from models.tags.ray_cache import RayBatches

    spread = build_cache(dataset.photos, clip, tmp_path / "ray", batch_size=8, chunk=8,
                         progress=False, producer=RayBatches("local", workers=2))
    assert not ray.is_initialized()  # the instance it started is stopped
    assert spread.ray and (spread.embedded, spread.reused) == (local.embedded, 0)
    assert dict(spread.failed).keys() == dict(local.failed).keys()
    assert "Invalid JPEG data" in dict(spread.failed)[mirflickr["corrupt"][0]]
    got, expected = read_cache(tmp_path / "ray", clip.key), read_cache(tmp_path / "local",
                                                                       clip.key)
    assert got.keys() == expected.keys()
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], atol=1e-5)
    folder = cache_folder(tmp_path / "ray", clip.key)
    assert sorted(p.name for p in folder.glob("part-*.npz")) == [
        f"part-{i:05d}.npz" for i in range(-(-local.embedded // 8))]
    assert read_failed(tmp_path / "ray", clip.key) == list(spread.failed)
