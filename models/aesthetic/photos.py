"""The pristine photos the technical-quality model learns from and is judged on.

None ships with InstaVis: each is read from an installed package (scikit-image, scikit-learn or
matplotlib) when needed. The CNN's training script trains on TRAIN_PHOTOS only; HELD_OUT_PHOTOS
and their spoiled copies are the Aesthetic tab's calibration set (the zero-shot content offset
and the attribute surrogate). The percentile's reference photos are listed in
`models.aesthetic.reference`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Photo name -> (loader, licence). Only CC0 / public-domain / CC BY photos; none is shipped by
# InstaVis itself, they are read from the installed packages at training time.
TRAIN_PHOTOS = {
    "astronaut": ("skimage.data.astronaut", "public domain (NASA)"),
    "rocket": ("skimage.data.rocket", "public domain (SpaceX)"),
    "camera": ("skimage.data.camera", "CC0 (Lav Varshney)"),
    "brick": ("skimage.data.brick", "CC0 (CC0Textures)"),
    "grass": ("skimage.data.grass", "CC0 (DeviantArt linolafett)"),
    "gravel": ("skimage.data.gravel", "CC0 (CC0Textures)"),
    "china": ("sklearn:china.jpg", "CC BY 2.0 (danielbuechele)"),
    "grace_hopper": ("matplotlib:grace_hopper.jpg", "public domain (US Navy)"),
}
HELD_OUT_PHOTOS = {
    "coffee": ("skimage.data.coffee", "CC0 (Rachel Michetti)"),
    "chelsea": ("skimage.data.chelsea", "CC0 (Stefan van der Walt)"),
    "flower": ("sklearn:flower.jpg", "CC BY 2.0 (vultilion)"),
}
# Left out on purpose: hubble_deep_field (mostly black sky, a natural "under-exposure"),
# immunohistochemistry and retina (stained or orange: natural "colour casts"), and gradio's
# media (no clear licence).


def load_photo(name: str) -> np.ndarray:
    """A pristine photo by name from TRAIN_PHOTOS or HELD_OUT_PHOTOS, uint8 (H, W, 3)."""
    source = {**TRAIN_PHOTOS, **HELD_OUT_PHOTOS}[name][0]
    if source.startswith("skimage.data."):
        from skimage import data

        image = getattr(data, source.rsplit(".", 1)[1])()
    elif source.startswith("sklearn:"):
        from sklearn.datasets import load_sample_image

        image = load_sample_image(source.split(":", 1)[1])
    else:
        import matplotlib
        from PIL import Image

        path = Path(matplotlib.get_data_path()) / "sample_data" / source.split(":", 1)[1]
        with Image.open(path) as opened:
            image = np.asarray(opened.convert("RGB"))
    image = np.asarray(image, np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return image
