"""(Re)generate the tabs' example photos from images that packages ship.

Run from the repository root: `python -m demos.examples.make_examples`. The output is
deterministic, so running it again rewrites the same files. Sources and licences are in
README.md next to this script.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import cbook
from PIL import Image, ImageFilter
from skimage import data
from sklearn.datasets import load_sample_image

HERE = Path(__file__).resolve().parent
QUALITY = 85
MAX_BYTES = 80_000  # examples travel with the repository and the Space: keep them small


def mirrored_copy(image: np.ndarray) -> np.ndarray:
    """The same scene as a creator's recreation might look: flipped left-right (a selfie
    camera), cropped a little and brighter."""
    flipped = image[:, ::-1]
    cropped = flipped[24:496, 16:488]
    return np.clip(cropped.astype(np.float32) * 1.12 + 12, 0, 255).astype(np.uint8)


def dark_blurry_copy(image: np.ndarray) -> np.ndarray:
    """A deliberately poor photo for the Aesthetic tab: out of focus and underexposed, the two
    faults its attributes and quality model should both catch."""
    blurred = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius=6)))
    # A gamma above 1 and a gain below 1 crush the shadows, as a missed exposure would.
    dark = 255 * (blurred.astype(np.float32) / 255) ** 1.6 * 0.45
    return np.clip(np.rint(dark), 0, 255).astype(np.uint8)


def grace_hopper() -> np.ndarray:
    """matplotlib's sample portrait of Rear Admiral Grace Hopper in uniform (US Navy)."""
    with cbook.get_sample_data("grace_hopper.jpg") as file, Image.open(file) as photo:
        return np.asarray(photo.convert("RGB"))


def examples() -> dict[str, np.ndarray]:
    """File name -> pixels, for every example photo."""
    astronaut = data.astronaut()
    return {
        "astronaut.jpg": astronaut,
        "astronaut_mirrored.jpg": mirrored_copy(astronaut),
        "camera.jpg": data.camera(),  # greyscale; load_image turns it into RGB
        "coffee.jpg": data.coffee(),
        "coffee_dark_blurry.jpg": dark_blurry_copy(data.coffee()),
        "chelsea.jpg": data.chelsea(),
        "flower.jpg": load_sample_image("flower.jpg"),
        "grace_hopper.jpg": grace_hopper(),
        "rocket.jpg": data.rocket(),
    }


def portrait_crop(image: np.ndarray, top: int, left: int, height: int) -> np.ndarray:
    """A 3:4 portrait cut of `image` (height x 3/4 height) from (top, left)."""
    return image[top : top + height, left : left + height * 3 // 4]


def regraded(image: np.ndarray, exposure: float = 1.0, warmth: float = 0.0) -> np.ndarray:
    """The photo re-exposed (a gain in linear light) and re-white-balanced (red up and blue
    down by `warmth` in linear light), as an editing app's two sliders would."""
    linear = (image.astype(np.float64) / 255) ** 2.2 * exposure
    linear *= np.array([1 + warmth, 1.0, 1 - warmth])
    return np.clip(np.rint(255 * np.clip(linear, 0, 1) ** (1 / 2.2)), 0, 255).astype(np.uint8)


def feed_examples() -> dict[str, np.ndarray]:
    """The Profile tab's example feed, in posting order: nine warm brown-and-cream photos of the
    cat and the coffee, two of which break the grid on purpose: the rocket's cool blue sky
    (photo 5) and a cat shot about 1.6 stops under (photo 9)."""
    cat, coffee = data.chelsea(), data.coffee()
    return {
        "feed/01.jpg": portrait_crop(cat, 0, 0, 300),
        "feed/02.jpg": portrait_crop(coffee, 40, 120, 360),
        "feed/03.jpg": portrait_crop(cat, 0, 220, 300),
        "feed/04.jpg": portrait_crop(coffee, 0, 300, 400),
        "feed/05.jpg": portrait_crop(data.rocket(), 0, 100, 427),
        "feed/06.jpg": portrait_crop(cat, 20, 120, 280),
        "feed/07.jpg": portrait_crop(coffee, 80, 0, 320),
        "feed/08.jpg": regraded(portrait_crop(cat, 0, 160, 300), 1.0, 0.05),
        "feed/09.jpg": regraded(portrait_crop(cat, 0, 60, 300), 2 ** -1.6),
    }


def main(argv: list[str] | None = None) -> None:
    import argparse

    # No options: the parser is there so that --help describes the run instead of starting it.
    argparse.ArgumentParser(prog="python -m demos.examples.make_examples",
                            description="Rewrite the tabs' example photos in this folder from "
                                        "images that installed packages ship.").parse_args(argv)
    (HERE / "feed").mkdir(exist_ok=True)
    for name, pixels in {**examples(), **feed_examples()}.items():
        path = HERE / name
        Image.fromarray(pixels).save(path, "JPEG", quality=QUALITY, optimize=True)
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise SystemExit(f"{name} is {size} bytes, over the {MAX_BYTES}-byte limit")
        print(f"{name}: {pixels.shape[1]} x {pixels.shape[0]}, {size / 1000:.1f} kB")


if __name__ == "__main__":
    main()
