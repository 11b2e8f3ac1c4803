"""Tiny Keras models whose true explanation is known, for the explainer tests.

Each scores an image by what it sees inside one region only, so a faithful map must point at
that region. The region is a fixed mask multiplied into the features right before global average
pooling, so the models also have the GAP -> Dense head CAM needs.
"""

from __future__ import annotations

import numpy as np
from skimage.data import astronaut
from skimage.transform import resize


def rectangle_mask(height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), np.float32)
    mask[height // 5 : height // 2, width // 2 : width * 9 // 10] = 1
    return mask


def disk_mask(height: int, width: int) -> np.ndarray:
    rows, cols = np.mgrid[:height, :width]
    centre_r, centre_c, radius = height * 0.6, width * 0.35, min(height, width) * 0.22
    return (((rows - centre_r) ** 2 + (cols - centre_c) ** 2) <= radius**2).astype(np.float32)


# Photos that ship inside installed wheels (no download) and that no other test uses, each with
# a disk for a region model to read: (centre row, centre column) as fractions of the photo's
# height and width, and the radius as a fraction of its shorter side. Positions and sizes vary,
# from 5% of the photo (rocket, flower) to 17% (hubble_deep_field).
NATURAL_SCENES = {
    "rocket": (0.30, 0.75, 0.15),
    "motorcycle": (0.60, 0.30, 0.18),
    "immunohistochemistry": (0.70, 0.30, 0.15),
    "hubble_deep_field": (0.50, 0.50, 0.25),
    "coins": (0.30, 0.30, 0.25),
    "camera": (0.35, 0.45, 0.18),
    "china": (0.70, 0.25, 0.18),
    "flower": (0.20, 0.80, 0.15),
    "grace_hopper": (0.75, 0.30, 0.20),
    "retina": (0.50, 0.30, 0.20),
}


def natural_photo(name: str, side: int = 128) -> np.ndarray:
    """One of NATURAL_SCENES' photos, RGB, its longest side `side` pixels."""
    from skimage import data

    if name == "motorcycle":
        image = data.stereo_motorcycle()[0]  # the left view
    elif name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        image = load_sample_image(f"{name}.jpg")
    elif name == "grace_hopper":
        from matplotlib.cbook import get_sample_data
        from PIL import Image

        with Image.open(get_sample_data("grace_hopper.jpg")) as opened:
            image = np.asarray(opened.convert("RGB"))
    else:
        image = getattr(data, name)()
    if image.ndim == 2:  # coins and camera are grey
        image = np.repeat(image[..., None], 3, axis=-1)
    height, width = image.shape[:2]
    scale = side / max(height, width)
    small = resize(image, (round(height * scale), round(width * scale)), anti_aliasing=True,
                   preserve_range=True)
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)


def scene_disk(name: str, size: tuple[int, int]) -> np.ndarray:
    """NATURAL_SCENES' disk for `name` as a float32 0/1 mask of `size` (height, width)."""
    centre_row, centre_col, radius = NATURAL_SCENES[name]
    height, width = size
    rows, cols = np.mgrid[:height, :width]
    inside = ((rows - centre_row * height) ** 2 + (cols - centre_col * width) ** 2
              <= (radius * min(height, width)) ** 2)
    return inside.astype(np.float32)


def photo(height: int, width: int) -> np.ndarray:
    """A real photo (scikit-image's astronaut, public domain) at the given size."""
    small = resize(astronaut(), (height, width), anti_aliasing=True, preserve_range=True)
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)


def region_model(mask: np.ndarray, seed: int = 0):
    """A conv net whose single score depends only on the pixels under `mask`.

    Input (h, w, 3) -> Conv2D 3x3 (no bias) -> ReLU -> x mask ("region") -> GAP -> Dense(1).
    Two of the six filters are positive (brightness) and four sum to zero (edges and texture),
    with positive Dense weights. So blacking the region out (deletion) lowers the score, and so
    does blurring it (the insertion canvas). A brightness-only net scores a blurred photo about
    as high as the photo itself (blur keeps a region's mean), which leaves the insertion curve
    nothing to measure: no map, however right, could then beat random maps on it.
    """
    import keras

    from benchmarks.stand_ins.mask_layers import FixedMask

    rng = np.random.default_rng(seed)
    height, width = mask.shape
    inputs = keras.Input((height, width, 3), name="pixels")
    scaled = keras.layers.Rescaling(1 / 255, name="scale")(inputs)
    features = keras.layers.Conv2D(6, 3, padding="same", use_bias=False, activation="relu",
                                   name="features")(scaled)
    region = FixedMask(mask, name="region")(features)
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(region)
    score = keras.layers.Dense(1, name="score")(pooled)
    model = keras.Model(inputs, score)
    brightness = rng.uniform(0.05, 0.2, (3, 3, 3, 2))
    edges = rng.normal(0.0, 1.0, (3, 3, 3, 4))
    edges -= edges.mean(axis=(0, 1, 2))  # zero sum: blind to flat colour, however bright
    model.get_layer("features").set_weights(
        [np.concatenate([brightness, edges], axis=-1).astype(np.float32)]
    )
    model.get_layer("score").set_weights(
        [rng.uniform(0.5, 1.5, (6, 1)).astype(np.float32) * 100, np.zeros(1, np.float32)]
    )
    return model


def token_model(mask: np.ndarray, patch: int = 8, seed: int = 0):
    """A ViT-shaped net whose score depends only on the patch tokens under `mask` (g x g).

    Input (g*patch, g*patch, 3) -> patchify conv -> patch tokens, zero outside the mask ->
    class token prepended: "tokens" (N, 1 + g*g, C) -> patch tokens -> mean -> Dense(1).
    """
    import keras

    from benchmarks.stand_ins.mask_layers import DropClassToken, PrependClassToken, TokenMask

    rng = np.random.default_rng(seed)
    grid = mask.shape[0]
    side = grid * patch
    inputs = keras.Input((side, side, 3), name="pixels")
    scaled = keras.layers.Rescaling(1 / 255)(inputs)
    patches = keras.layers.Conv2D(6, patch, strides=patch, use_bias=False, activation="relu",
                                  name="patchify")(scaled)
    kept = TokenMask(mask, name="keep")(keras.layers.Reshape((grid * grid, 6))(patches))
    tokens = PrependClassToken(name="tokens")(kept)
    pooled = keras.layers.GlobalAveragePooling1D()(DropClassToken()(tokens))
    score = keras.layers.Dense(1, name="score")(pooled)
    model = keras.Model(inputs, score)
    model.get_layer("patchify").set_weights(
        [rng.uniform(0.0, 0.05, (patch, patch, 3, 6)).astype(np.float32)]
    )
    model.get_layer("score").set_weights(
        [rng.uniform(0.5, 1.5, (6, 1)).astype(np.float32) * 10, np.zeros(1, np.float32)]
    )
    return model


def top_fraction_inside(heatmap: np.ndarray, mask: np.ndarray, fraction: float = 0.1) -> float:
    """Share of the `fraction` highest-valued pixels that fall inside `mask` (ties: first in
    raster order)."""
    count = max(1, int(round(heatmap.size * fraction)))
    top = np.argsort(-heatmap.ravel(), kind="stable")[:count]
    return float(mask.ravel()[top].mean())


PATCH_PIXELS = 16
"""Side of one patch of `patch_region_model`, in the pixels it reads (the photo's patch cells
are resized to this)."""


def region_cells(mask: np.ndarray, grid: int) -> np.ndarray:
    """The cells of a `grid` x `grid` cut of `mask`'s image (cell i spanning floor(i * side /
    grid) to floor((i + 1) * side / grid), as `explain.PatchModel.patch_labels` cuts it) whose
    centre pixel lies inside `mask`; the cell under the mask's centre of mass when none does.
    Returns bool grid x grid."""
    height, width = mask.shape
    centres_r = ((np.arange(grid) * height // grid + (np.arange(grid) + 1) * height // grid)
                 // 2)
    centres_c = ((np.arange(grid) * width // grid + (np.arange(grid) + 1) * width // grid)
                 // 2)
    cells = mask[np.ix_(centres_r, centres_c)] > 0
    if not cells.any():
        rows, cols = np.nonzero(mask)
        cells[int(rows.mean()) * grid // height, int(cols.mean()) * grid // width] = True
    return cells


def cells_mask(cells: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """float32 0/1 mask of `size` covering `cells` (bool grid x grid), cut as `region_cells`."""
    grid = cells.shape[0]
    rows = np.arange(size[0]) * grid // size[0]
    cols = np.arange(size[1]) * grid // size[1]
    return cells[np.ix_(rows, cols)].astype(np.float32)


def patch_region_model(cells: np.ndarray, seed: int = 0):
    """A ViT-shaped black box whose score depends only on the patches marked in `cells` (bool
    g x g), as an `explain.PatchModel` over the whole photo.

    Each patch (the photo cut into g x g cells, each resized to PATCH_PIXELS) becomes a token
    of features: its mean brightness and its edge energy (mean absolute difference between
    neighbouring pixels, per channel). The score is a fixed positive weighting of those
    features summed over the marked patches that are present. A patch left out of the input
    adds nothing, as a black patch adds nothing through the pixels; blurring a marked patch
    lowers its edges. So the true answer is known: exactly the marked cells matter.
    """
    from PIL import Image

    from explain import PatchModel

    cells = np.asarray(cells, bool)
    grid = cells.shape[0]
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.5, 1.5, 6) * np.array([1, 1, 1, 4, 4, 4])
    region = cells.ravel()
    side = grid * PATCH_PIXELS

    def tokens(image: np.ndarray) -> np.ndarray:
        """g*g x 6 features of one photo."""
        small = np.asarray(Image.fromarray(image).resize((side, side),
                                                         Image.Resampling.BILINEAR),
                           np.float32) / 255
        patches = small.reshape(grid, PATCH_PIXELS, grid, PATCH_PIXELS, 3).swapaxes(1, 2)
        patches = patches.reshape(grid * grid, PATCH_PIXELS, PATCH_PIXELS, 3)
        brightness = patches.mean(axis=(1, 2))
        edges = (np.abs(np.diff(patches, axis=1)).mean(axis=(1, 2))
                 + np.abs(np.diff(patches, axis=2)).mean(axis=(1, 2)))
        return np.concatenate([brightness, edges], axis=1)

    def token_scores(image: np.ndarray) -> np.ndarray:
        return (tokens(image) @ weights) * region

    def whole(images: np.ndarray) -> np.ndarray:
        return np.array([[token_scores(image).sum()] for image in images], np.float32)

    def kept(image: np.ndarray, keep: np.ndarray) -> np.ndarray:
        return (np.asarray(keep, np.float32) @ token_scores(image))[:, None]

    return PatchModel(whole, kept, (grid, grid), ["region"], batch_size=32)
