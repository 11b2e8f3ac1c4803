"""models.profile.index and `python -m models.profile index`: generated profiles on disk, the
nearest-profile lookup, and the command's one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from skimage import data

from models.profile import check, index
from models.profile.__main__ import main as profile_command
from tests.test_profile import crops, regraded

PROFILES = {
    "astronaut_warm": lambda: [regraded(p, 1.0, 0.2) for p in crops(data.astronaut(), 4)],
    "astronaut_dark": lambda: [regraded(p, 0.3) for p in crops(data.astronaut(), 4)],
    "coffee": lambda: crops(data.coffee(), 4, side=250),
    "chelsea_cool": lambda: [regraded(p, 1.2, -0.25) for p in crops(data.chelsea(), 4,
                                                                     side=200)],
}


@pytest.fixture(scope="module")
def profile_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("profiles")
    for name, make in PROFILES.items():
        (root / name).mkdir()
        for number, photo in enumerate(make()):
            Image.fromarray(photo).save(root / name / f"{number:02d}.png")
    (root / "too_small").mkdir()  # two photos: skipped, said so
    for number in range(2):
        Image.fromarray(data.coffee()).save(root / "too_small" / f"{number}.png")
    return root


@pytest.fixture(scope="module")
def built(profile_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("index")
    said = []
    index.build_index(profile_folder, out, say=said.append)
    return out, said


def test_the_index_holds_each_usable_profile_with_its_grid(built):
    out, said = built
    profiles = index.load_index(out)
    assert [p.name for p in profiles] == sorted(PROFILES)
    assert any("too_small" in line and "3 needed" in line for line in said)
    for profile in profiles:
        assert profile.photos == 4 and profile.grid.is_file() and len(profile.palette) == 3
        assert profile.embedding is None  # offline: no CLIP here
    saved = json.loads((out / "index.json").read_text())
    assert saved["clip"] is False


def test_a_profiles_nearest_neighbour_is_itself(built, profile_folder):
    out, _ = built
    profiles = index.load_index(out)
    for name in PROFILES:
        paths = sorted((profile_folder / name).iterdir())
        report = check(paths)
        neighbours = index.nearest(report.photos, profiles)
        assert neighbours[0].profile.name == name
        assert neighbours[0].distance == pytest.approx(0.0, abs=1e-9)
        assert len(neighbours) == 3 and neighbours[1].distance > 1
        # sharing every measure with itself, and the lookup sorted nearest first
        assert len(neighbours[0].shared) == 5
        assert [n.distance for n in neighbours] == sorted(n.distance for n in neighbours)


def test_the_darker_copy_of_a_profile_is_nearer_than_other_places(built):
    out, _ = built
    profiles = index.load_index(out)
    # the astronaut at its own exposure, warmed as the warm profile: that profile first
    photos = [regraded(p, 1.0, 0.2) for p in crops(data.astronaut(), 4)][::-1]
    first = index.nearest(check(photos).photos, profiles)[0]
    assert first.profile.name == "astronaut_warm"


def test_the_distance_is_in_visible_steps():
    # by hand: 10 Delta E on L* is two steps, 0.6 EV two more: sqrt(2^2 + 2^2)
    a = np.array([50.0, 0, 0, 0.0, 20, 10, 180])
    b = np.array([60.0, 0, 0, 0.6, 20, 10, 180])
    assert index.distance(a, b) == pytest.approx(np.sqrt(8))
    # unit embeddings at cosine 0.5 add 10 x (1 - 0.5) steps
    e1, e2 = np.array([1.0, 0.0]), np.array([0.5, np.sqrt(0.75)])
    assert index.distance(a, a, e1, e2) == pytest.approx(5.0)


def test_with_no_index_there_is_nothing_to_show(tmp_path):
    assert index.load_index(tmp_path) is None


def test_a_damaged_index_is_refused_in_one_line(tmp_path):
    (tmp_path / "index.json").write_text("{not json")
    with pytest.raises(index.ProfileIndexError) as refused:
        index.load_index(tmp_path)
    assert "python -m models.profile index" in str(refused.value)


def test_the_command_builds_into_the_data_dir_and_refuses_bad_input(profile_folder, tmp_path,
                                                                    monkeypatch, capsys):
    monkeypatch.setenv("INSTAVIS_DATA_DIR", str(tmp_path / "data"))
    assert profile_command(["index", str(profile_folder)]) == 0
    assert "index of 4 profiles" in capsys.readouterr().out
    assert index.load_index() is not None
    assert (tmp_path / "data" / "profile" / "index" / "index.json").is_file()
    # not a folder; a folder with no profile subfolders; a bad flag
    assert profile_command(["index", str(tmp_path / "missing")]) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    assert profile_command(["index", str(empty)]) == 1
    assert profile_command(["index", str(profile_folder), "--bogus"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and "not a folder" in errors[0] and "no subfolders" in errors[1]
