"""The rating pipeline of "Image Rating using CNN": features -> PCA -> genetic selection -> FC.

The research rated a photo aesthetic (1) or not (0) in four steps, each reproduced here:

1. Features: MultiGAP stage features concatenated with EfficientNet features
   (`models.aesthetic.multigap`).
2. PCA (Pearson 1901; Shlens 2014, "A Tutorial on Principal Component Analysis", whose
   derivation the write-up follows): the MultiGAP part and the CNN part are reduced by two
   separate PCAs, each to half its length (16928 -> 8464 and 2560 -> 1280 in the research).
3. A genetic algorithm (Holland 1975; Goldberg 1989) chooses which components the classifier
   sees (5000 of them in the research). Each individual is a vector of k unique component
   indices; a population holds 100. Every generation the population is sorted by fitness (the
   research: accuracy of a classifier trained on the selected features, measured on held-out
   data); the 2 best survive unchanged; the top 50 (those 2 included) are parents; child j is
   made from parents j, j+1, ..., j+n-1, taking the indices that occur most often among them;
   the 50 children replace the 50 worst; the 48 other parents are mutated, keeping a share of
   their genes and replacing the rest with random indices so that every index in a vector
   stays unique.
4. A fully connected classifier: 3 dense layers with batch normalisation and dropout in between,
   ending in a sigmoid "aesthetic" probability.

Differences from the research, each for a reason:

- Fitness is the validation accuracy of a logistic regression (scikit-learn), not of the FC
  network: 100 Keras trainings a generation are hours on a 2-core CPU, a logistic regression on
  the same features is milliseconds, and both measure how linearly separable the selected
  components make the classes. Any `fitness(indices) -> float` can be passed instead.
- The PCA outputs are whitened (divided by the square root of their variance), so that the
  proxy's L2 penalty and the FC layers treat every component alike whatever its variance.
- On small data a PCA keeps at most as many components as there are training photos.

Saved pipelines hold no pickle: the Keras head is `head.keras` (loaded with `safe_mode=True`)
and the PCA, the selection and the settings are plain arrays in `pipeline.npz`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__all__ = [
    "GAConfig",
    "GAResult",
    "FeatureReducer",
    "PartPCA",
    "RatingDataError",
    "RatingPipeline",
    "crossover",
    "fc_classifier",
    "fit_reducer",
    "genetic_select",
    "initial_population",
    "load_letterboxed",
    "mutate",
    "next_generation",
    "proxy_fitness",
    "scan_rating_folder",
]

GOOD_FOLDER = "good"
BAD_FOLDER = "bad"
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})

# The research's numbers.
RESEARCH_POPULATION = 100
RESEARCH_ELITE = 2
RESEARCH_PARENTS = 50
RESEARCH_SELECTED = 5000
RESEARCH_PCA_RATIO = 0.5  # 16928 -> 8464 (MultiGAP) and 2560 -> 1280 (CNN)
RESEARCH_COMPONENTS = 8464 + 1280
# Not given by the write-up: how many parents make one child, and the share of genes a
# mutation keeps. Three parents is the smallest number for which "the indices that repeat
# more" can outvote one parent; keeping 90% makes mutation a small step, as the write-up says.
PARENTS_PER_CHILD = 3
KEEP_FRACTION = 0.9

# The FC head. The write-up fixes the layer count, batch norm and dropout, not the widths.
FC_UNITS = (256, 64)
FC_DROPOUT = 0.5

PIPELINE_FILE = "pipeline.npz"
HEAD_FILE = "head.keras"


# === Data ===


class RatingDataError(ValueError):
    """A data folder is not laid out as DIR/good/*.jpg and DIR/bad/*.jpg; the message says how."""


def scan_rating_folder(folder: str | Path, *,
                       need_both: bool = True) -> tuple[list[Path], np.ndarray]:
    """List the photos of a folder holding `good/` (aesthetic) and `bad/` (not aesthetic).

    Args:
        folder: the folder.
        need_both: require photos in both classes (training); False accepts a folder with one
            class only, as the research's COCO benchmark (1000 photos, none aesthetic).

    Returns:
        (paths, labels): sorted paths, good first, and float32 labels (1 good, 0 bad).

    Raises:
        RatingDataError: the folder or a needed class folder is missing or has no photos.
    """
    root = Path(folder)
    if not root.is_dir():
        raise RatingDataError(f"{root} is not a folder; expected {root}/good/*.jpg and "
                              f"{root}/bad/*.jpg.")
    paths: list[Path] = []
    labels: list[float] = []
    found = {}
    for name, label in ((GOOD_FOLDER, 1.0), (BAD_FOLDER, 0.0)):
        sub = root / name
        photos = []
        if sub.is_dir():
            photos = sorted(p for p in sub.iterdir()
                            if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
        found[name] = len(photos)
        paths.extend(photos)
        labels.extend([label] * len(photos))
    empty = [name for name, count in found.items() if count == 0]
    if (need_both and empty) or len(empty) == 2:
        raise RatingDataError(
            f"{root} has no photos in {' or '.join(f'{n}/' for n in empty)}; expected "
            f"{root}/good/*.jpg (aesthetic) and {root}/bad/*.jpg (not aesthetic)."
        )
    return paths, np.asarray(labels, np.float32)


def load_letterboxed(paths: Sequence[str | Path], size: int) -> np.ndarray:
    """Load photos through `load_image` and fit each into a size x size square with borders.

    The research fed its CNN `resize_with_borders` (600 x 600): the whole photo, aspect ratio
    kept, padded with black. Cropping would cut off what makes a composition good or bad.

    Args:
        paths: photo files.
        size: side of the square.

    Returns:
        uint8 (N, size, size, 3).

    Raises:
        models.images.InvalidImage: a file is not a usable photo; the message names the file.
    """
    from PIL import Image

    from models.images import InvalidImage, load_image

    batch = np.zeros((len(paths), size, size, 3), np.uint8)
    for index, path in enumerate(paths):
        try:
            pixels = load_image(Path(path))
        except InvalidImage as error:
            raise InvalidImage(f"{path}: {error.reason}") from error
        height, width = pixels.shape[:2]
        scale = size / max(height, width)
        new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
        resized = np.asarray(Image.fromarray(pixels).resize((new_w, new_h), Image.BILINEAR))
        top, left = (size - new_h) // 2, (size - new_w) // 2
        batch[index, top:top + new_h, left:left + new_w] = resized
    return batch


# === PCA ===


@dataclass(frozen=True)
class PartPCA:
    """A whitening PCA of one part of the feature vector, as plain arrays.

    Attributes:
        name: the part ("multigap" or "cnn").
        start, stop: the part's columns in the feature vector.
        mean: (D,) training mean of the part.
        components: (K, D) principal axes, largest variance first.
        scale: (K,) standard deviation of each component on the training data.
    """

    name: str
    start: int
    stop: int
    mean: np.ndarray
    components: np.ndarray
    scale: np.ndarray

    def transform(self, features: np.ndarray) -> np.ndarray:
        """(N, F) features -> (N, K) whitened components of this part."""
        part = np.asarray(features, np.float64)[:, self.start:self.stop]
        return ((part - self.mean) @ self.components.T) / self.scale


@dataclass(frozen=True)
class FeatureReducer:
    """The research's two PCAs side by side; `transform` concatenates their outputs.

    Attributes:
        parts: one PartPCA per part, in output order.
        feature_size: F, the length of the feature vectors it accepts.
    """

    parts: tuple[PartPCA, ...]
    feature_size: int

    @property
    def size(self) -> int:
        """Number of components it outputs."""
        return sum(len(part.scale) for part in self.parts)

    def transform(self, features: np.ndarray) -> np.ndarray:
        """(N, F) features -> (N, size) float32 whitened components."""
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[1] != self.feature_size:
            raise ValueError(f"expected (N, {self.feature_size}) features, got {features.shape}")
        return np.concatenate([part.transform(features) for part in self.parts],
                              axis=1).astype(np.float32)


def fit_reducer(features: np.ndarray, part_slices: dict[str, slice],
                ratio: float = RESEARCH_PCA_RATIO, seed: int = 0) -> FeatureReducer:
    """Fit one PCA per part, each keeping `ratio` of its part's length (the research: half).

    Args:
        features: (N, F) training features.
        part_slices: part name -> its columns (`FeatureLayout.part_slices()`).
        ratio: share of each part's length to keep as components.
        seed: for scikit-learn's randomised solver on large inputs.

    Returns:
        A FeatureReducer. Each part keeps min(ceil(ratio * D), N - 1, D) components and at
        least one: a PCA of N centred points has at most N - 1 non-zero variances.
    """
    from sklearn.decomposition import PCA

    features = np.asarray(features, np.float64)
    parts = []
    for name, columns in part_slices.items():
        start, stop, _ = columns.indices(features.shape[1])
        width = stop - start
        if width == 0:
            continue
        keep = max(1, min(int(np.ceil(ratio * width)), features.shape[0] - 1, width))
        pca = PCA(n_components=keep, random_state=seed).fit(features[:, start:stop])
        # A constant direction has zero variance; dividing by a tiny floor keeps it at zero
        # instead of producing NaN.
        scale = np.sqrt(np.maximum(pca.explained_variance_, 1e-12))
        parts.append(PartPCA(name, start, stop, pca.mean_.copy(), pca.components_.copy(),
                             scale))
    if not parts:
        raise ValueError("no feature columns to reduce")
    return FeatureReducer(tuple(parts), features.shape[1])


# === The genetic algorithm ===


@dataclass(frozen=True)
class GAConfig:
    """The genetic algorithm's settings; the defaults are the research's where it gives them.

    Attributes:
        population: individuals a generation (the research: 100).
        elite: best individuals kept unchanged (2).
        parents: top individuals that breed, the elite included (50).
        generations: rounds of selection, crossover and mutation after the first evaluation.
        parents_per_child: n, how many consecutive parents make one child.
        keep_fraction: share of its genes a mutated individual keeps.
        seed: seeds the first population and every random choice.
    """

    population: int = RESEARCH_POPULATION
    elite: int = RESEARCH_ELITE
    parents: int = RESEARCH_PARENTS
    generations: int = 10
    parents_per_child: int = PARENTS_PER_CHILD
    keep_fraction: float = KEEP_FRACTION
    seed: int = 0

    def __post_init__(self):
        if not 0 < self.elite <= self.parents < self.population:
            raise ValueError("need 0 < elite <= parents < population, got "
                             f"{self.elite}, {self.parents}, {self.population}")
        if self.generations < 0 or self.parents_per_child < 1:
            raise ValueError("generations must be >= 0 and parents_per_child >= 1")
        if not 0.0 <= self.keep_fraction <= 1.0:
            raise ValueError(f"keep_fraction {self.keep_fraction} is not within 0..1")


@dataclass(frozen=True)
class GAResult:
    """What `genetic_select` found.

    Attributes:
        best: sorted indices of the fittest individual.
        best_fitness: its fitness.
        best_history: best fitness of each evaluated generation (the first population first).
        mean_history: mean fitness of each evaluated generation.
        population: (P, k) the last evaluated population, fittest first.
        fitness: (P,) its fitness.
    """

    best: np.ndarray
    best_fitness: float
    best_history: tuple[float, ...]
    mean_history: tuple[float, ...]
    population: np.ndarray
    fitness: np.ndarray = field(repr=False)


def initial_population(n_features: int, k: int, size: int,
                       rng: np.random.Generator) -> np.ndarray:
    """`size` random vectors of k unique indices out of n_features (the research's first
    population is random)."""
    if not 0 < k <= n_features:
        raise ValueError(f"cannot choose {k} of {n_features} features")
    return np.stack([rng.choice(n_features, size=k, replace=False) for _ in range(size)])


def crossover(parents: np.ndarray, children: int, parents_per_child: int,
              rng: np.random.Generator) -> np.ndarray:
    """The research's crossover: child j comes from parents j, j+1, ..., j+n-1.

    The parents' indices are counted, and the child takes the k that occur most often: indices
    several good parents agree on are the likeliest to matter. Ties are broken at random, so
    two children with the same counts can still differ. Windows wrap around past the last
    parent.

    Args:
        parents: (M, k) parent vectors, fittest first.
        children: how many children to make.
        parents_per_child: n.
        rng: for the tie-breaks.

    Returns:
        (children, k) vectors of unique indices.
    """
    count, k = parents.shape
    n = min(parents_per_child, count)
    made = np.empty((children, k), parents.dtype)
    for j in range(children):
        window = parents[[(j + offset) % count for offset in range(n)]].ravel()
        indices, counts = np.unique(window, return_counts=True)
        # Sort by count (descending), then by a random key: lexsort sorts by its last key first.
        order = np.lexsort((rng.random(len(indices)), -counts))
        made[j] = indices[order[:k]]
    return made


def mutate(vectors: np.ndarray, n_features: int, keep_fraction: float,
           rng: np.random.Generator) -> np.ndarray:
    """The research's mutation: keep a share of each vector's genes, redraw the others.

    New genes are drawn from the indices the vector does not hold, without replacement, so
    every index in a vector stays unique. At least one gene changes whenever keep_fraction < 1
    (otherwise a small k would never mutate).

    Args:
        vectors: (M, k) vectors.
        n_features: indices run over range(n_features).
        keep_fraction: share of genes kept.
        rng: the randomness.

    Returns:
        (M, k) mutated copies.
    """
    mutated = vectors.copy()
    k = vectors.shape[1]
    replace = 0 if keep_fraction >= 1.0 else max(1, int(round((1.0 - keep_fraction) * k)))
    replace = min(replace, n_features - k)  # k == n_features leaves nothing to draw from
    if replace <= 0:
        return mutated
    for row in mutated:
        outside = np.setdiff1d(np.arange(n_features), row, assume_unique=True)
        positions = rng.choice(k, size=replace, replace=False)
        row[positions] = rng.choice(outside, size=replace, replace=False)
    return mutated


def next_generation(population: np.ndarray, fitness: np.ndarray, n_features: int,
                    config: GAConfig, rng: np.random.Generator) -> np.ndarray:
    """One round of the research's selection, crossover and mutation.

    Rows of the new population: the `elite` best unchanged, then the other parents mutated
    (they go back where they were selected from), then `population - parents` children of the
    top `parents`, which replace the worst.

    Args:
        population: (P, k) vectors.
        fitness: (P,) their fitness.
        n_features: indices run over range(n_features).
        config: the settings.
        rng: the randomness.

    Returns:
        (P, k) the next population.
    """
    # Stable sort: among equally fit vectors the earlier one ranks first, so an elite that
    # ties with a newcomer is not displaced by chance.
    ranked = population[np.argsort(-np.asarray(fitness), kind="stable")]
    elite = ranked[:config.elite]
    parents = ranked[:config.parents]
    mutated = mutate(ranked[config.elite:config.parents], n_features, config.keep_fraction, rng)
    children = crossover(parents, len(population) - config.parents, config.parents_per_child,
                         rng)
    return np.concatenate([elite, mutated, children])


def proxy_fitness(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
                  y_val: np.ndarray, max_iter: int = 200,
                  solver: str = "liblinear") -> Callable[[np.ndarray], float]:
    """Fitness as validation accuracy of a logistic regression on the selected columns.

    Args:
        x_train, y_train: data the proxy is trained on.
        x_val, y_val: data its accuracy is measured on.
        max_iter: the solver's iteration cap.
        solver: scikit-learn's solver. liblinear by default: the GA fits thousands of small
            problems, and on those it is about 15 times faster than the default lbfgs (1 ms
            against 18 ms for 150 photos and 5 components on this project's CPU).

    Returns:
        fitness(indices) -> accuracy in 0..1.
    """
    from sklearn.linear_model import LogisticRegression

    y_train = np.asarray(y_train).ravel().astype(int)
    y_val = np.asarray(y_val).ravel().astype(int)

    def fitness(indices: np.ndarray) -> float:
        model = LogisticRegression(max_iter=max_iter, solver=solver)
        model.fit(x_train[:, indices], y_train)
        return float(np.mean(model.predict(x_val[:, indices]) == y_val))

    return fitness


def genetic_select(fitness: Callable[[np.ndarray], float], n_features: int, k: int,
                   config: GAConfig | None = None,
                   progress: Callable[[int, float, float], None] | None = None) -> GAResult:
    """Choose k of n_features columns with the research's genetic algorithm.

    Args:
        fitness: fitness(sorted indices) -> float, higher is better (e.g. `proxy_fitness`).
            It should be deterministic: results are cached per set of indices, so the elite
            is not re-scored and its fitness never drops between generations.
        n_features: columns to choose from.
        k: columns an individual selects.
        config: the settings (default: the research's population of 100, 2 elite, 50 parents).
        progress: called as progress(generation, best, mean) after each evaluation.

    Returns:
        A GAResult.
    """
    config = config or GAConfig()
    rng = np.random.default_rng(config.seed)
    cache: dict[tuple[int, ...], float] = {}

    def score(vector: np.ndarray) -> float:
        key = tuple(sorted(int(i) for i in vector))
        if key not in cache:
            cache[key] = float(fitness(np.asarray(key)))
        return cache[key]

    population = initial_population(n_features, k, config.population, rng)
    best_history: list[float] = []
    mean_history: list[float] = []
    for generation in range(config.generations + 1):
        scores = np.array([score(vector) for vector in population])
        best_history.append(float(scores.max()))
        mean_history.append(float(scores.mean()))
        if progress is not None:
            progress(generation, best_history[-1], mean_history[-1])
        if generation == config.generations:
            break
        population = next_generation(population, scores, n_features, config, rng)
    order = np.argsort(-scores, kind="stable")
    population, scores = population[order], scores[order]
    return GAResult(np.sort(population[0]), float(scores[0]), tuple(best_history),
                    tuple(mean_history), population, scores)


# === The FC classifier ===


def fc_classifier(input_dim: int, units: Sequence[int] = FC_UNITS, dropout: float = FC_DROPOUT,
                  name: str = "aesthetic_fc"):
    """The research's fully connected classifier: 3 dense layers, batch norm and dropout between.

    Dense -> BatchNormalization -> ReLU -> Dropout, twice, then a one-unit sigmoid Dense. The
    research ended in 2 softmax outputs; one sigmoid is the same model for two classes and
    gives the "aesthetic" probability directly.

    Args:
        input_dim: number of selected features.
        units: widths of the two hidden dense layers (the write-up gives none).
        dropout: rate of each dropout layer.
        name: the model's name.

    Returns:
        An uncompiled Keras model: "features" (N, input_dim) -> "aesthetic" (N, 1).
    """
    import keras

    if len(units) != 2:
        raise ValueError("the research's FC has 3 dense layers: give 2 hidden widths")
    features = keras.Input((input_dim,), name="features")
    x = features
    for index, width in enumerate(units, start=1):
        x = keras.layers.Dense(width, name=f"dense{index}")(x)
        x = keras.layers.BatchNormalization(name=f"batch_norm{index}")(x)
        x = keras.layers.Activation("relu", name=f"relu{index}")(x)
        x = keras.layers.Dropout(dropout, name=f"dropout{index}")(x)
    aesthetic = keras.layers.Dense(1, activation="sigmoid", name="aesthetic")(x)
    return keras.Model(features, aesthetic, name=name)


# === The whole pipeline ===


class RatingPipeline:
    """Features -> PCA -> selected components -> FC: the research's rating after extraction.

    Attributes:
        reducer: the two PCAs.
        selected: sorted indices of the components the GA chose.
        head: the Keras FC classifier.
        input_size: side of the square photos the features were extracted from.
        stages: (name, channels) of the extractor's stages, to check a rebuilt extractor.
        backbone: the weights artifact the extractor was built from.
    """

    def __init__(self, reducer: FeatureReducer, selected: np.ndarray, head, *,
                 input_size: int, stages: Sequence[tuple[str, int]], backbone: str):
        self.reducer = reducer
        self.selected = np.asarray(selected, np.int64)
        self.head = head
        self.input_size = int(input_size)
        self.stages = tuple((str(n), int(c)) for n, c in stages)
        self.backbone = backbone

    def select(self, features: np.ndarray) -> np.ndarray:
        """(N, F) features -> (N, k) float32 selected whitened components."""
        return self.reducer.transform(features)[:, self.selected]

    def predict(self, features: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """(N, F) features -> (N,) float32 probability that each photo is aesthetic."""
        selected = self.select(features)
        if len(selected) == 0:
            return np.zeros(0, np.float32)
        return self.head.predict(selected, batch_size=batch_size, verbose=0).ravel()

    def save(self, folder: str | Path) -> Path:
        """Write `head.keras` and `pipeline.npz` (arrays only) into `folder`; return it."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {
            "format_version": np.array(1),
            "feature_size": np.array(self.reducer.feature_size),
            "selected": self.selected,
            "input_size": np.array(self.input_size),
            "stage_names": np.array([name for name, _ in self.stages], dtype=np.str_),
            "stage_channels": np.array([c for _, c in self.stages], np.int64),
            "backbone": np.array(self.backbone, dtype=np.str_),
            "part_names": np.array([p.name for p in self.reducer.parts], dtype=np.str_),
        }
        for index, part in enumerate(self.reducer.parts):
            arrays[f"part{index}_columns"] = np.array([part.start, part.stop], np.int64)
            arrays[f"part{index}_mean"] = part.mean
            arrays[f"part{index}_components"] = part.components
            arrays[f"part{index}_scale"] = part.scale
        np.savez(folder / PIPELINE_FILE, **arrays)
        self.head.save(folder / HEAD_FILE)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> RatingPipeline:
        """Load a saved pipeline: the arrays without pickle, the head with `safe_mode=True`.

        Raises:
            FileNotFoundError: `pipeline.npz` or `head.keras` is missing.
        """
        import keras

        folder = Path(folder)
        for name in (PIPELINE_FILE, HEAD_FILE):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{folder} has no {name}; train one with "
                                        "`python -m models.train aesthetic --out DIR`.")
        with np.load(folder / PIPELINE_FILE, allow_pickle=False) as data:
            parts = tuple(
                PartPCA(str(name), int(data[f"part{i}_columns"][0]),
                        int(data[f"part{i}_columns"][1]), data[f"part{i}_mean"],
                        data[f"part{i}_components"], data[f"part{i}_scale"])
                for i, name in enumerate(data["part_names"])
            )
            reducer = FeatureReducer(parts, int(data["feature_size"]))
            stages = list(zip(data["stage_names"].tolist(), data["stage_channels"].tolist(),
                              strict=True))
            selected = data["selected"]
            input_size = int(data["input_size"])
            backbone = str(data["backbone"])
        head = keras.saving.load_model(folder / HEAD_FILE, safe_mode=True)
        return cls(reducer, selected, head, input_size=input_size, stages=stages,
                   backbone=backbone)
