"""How well tag scores rank and decide: average precision, mAP, F1 at thresholds, and the
tag-frequency baseline the research's numbers are read against.

Every function takes scores and 0/1 labels as (N photos, T tags) arrays and returns plain floats
and dicts, ready for JSON. Nothing here imports TensorFlow.

Average precision (AP) of one tag is the mean, over the photos that have the tag, of the
precision of the ranking at that photo's rank. Photos with equal scores form one block that the
ranking cannot order, so each of them is ranked at the block's end: a positive inside a block of
ties gets the precision of the ranking down to the last photo of the block. The result never
depends on the order the photos came in, and it equals scikit-learn's
`average_precision_score`. A tag with no positive photo in the evaluated split has no AP: it is
reported as undefined (None), left out of the mean (mAP), and counted.

The tag-frequency baseline scores every photo with each tag's prevalence in the training split.
All photos then tie, the whole split is one block, and the baseline's AP of a tag is that tag's
prevalence in the evaluated split, whatever the training prevalence was.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _checked(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels)
    if scores.shape != labels.shape:
        raise ValueError(f"scores {scores.shape} and labels {labels.shape} differ in shape.")
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 or 1.")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite numbers.")
    return scores, labels.astype(bool)


def average_precision(scores, labels) -> float | None:
    """AP of one tag over N photos; None when no photo has the tag.

    Args:
        scores: (N,) any real numbers, higher meaning "more likely tagged".
        labels: (N,) 0 or 1.

    Returns:
        The mean, over the positive photos, of the precision at each one's rank, a tie block
        counting as ranked at its end (see the module docstring); None without positives.
    """
    scores, labels = _checked(scores, labels)
    if scores.ndim != 1:
        raise ValueError(f"average_precision takes one tag's (N,) scores, got {scores.shape}.")
    positives = int(labels.sum())
    if positives == 0:
        return None
    order = np.argsort(-scores, kind="stable")
    ranked_scores, ranked_labels = scores[order], labels[order]
    hits = np.cumsum(ranked_labels)
    # Each photo's rank is the rank of the last photo of its tie block.
    block_end = np.r_[ranked_scores[1:] != ranked_scores[:-1], True]
    end_of_block = np.flatnonzero(block_end)
    last = end_of_block[np.searchsorted(end_of_block, np.arange(len(scores)))]
    precision = hits[last] / (last + 1)
    return float(precision[ranked_labels].sum() / positives)


def ranking_report(scores, labels, concepts: Sequence[str]) -> dict:
    """Per-tag AP and their mean over the tags that have positives.

    Args:
        scores, labels: (N, T).
        concepts: the T tag names.

    Returns:
        {"photos": N, "per_tag": {tag: {"positives": int, "ap": float | None}},
        "map": the mean of the defined APs (None if none is defined), "tags_defined": int,
        "undefined": [tags without a positive photo, whose AP is None]}.
    """
    scores, labels = _checked(scores, labels)
    _check_columns(scores, concepts)
    per_tag = {}
    for column, tag in enumerate(concepts):
        per_tag[tag] = {"positives": int(labels[:, column].sum()),
                        "ap": average_precision(scores[:, column], labels[:, column])}
    defined = [row["ap"] for row in per_tag.values() if row["ap"] is not None]
    return {
        "photos": int(scores.shape[0]),
        "per_tag": per_tag,
        "map": float(np.mean(defined)) if defined else None,
        "tags_defined": len(defined),
        "undefined": [tag for tag, row in per_tag.items() if row["ap"] is None],
    }


def _check_columns(scores: np.ndarray, concepts: Sequence[str]) -> None:
    if scores.ndim != 2 or scores.shape[1] != len(concepts):
        raise ValueError(f"expected (N, {len(concepts)}) scores, one column per tag; got "
                         f"{scores.shape}.")


def f1_score(true_positives: int, false_positives: int, false_negatives: int) -> float | None:
    """2 TP / (2 TP + FP + FN); None when all three are 0 (nothing to find, nothing claimed)."""
    denominator = 2 * true_positives + false_positives + false_negatives
    return 2 * true_positives / denominator if denominator else None


def f1_report(scores, labels, thresholds, concepts: Sequence[str]) -> dict:
    """F1 of the decisions `score >= threshold`, per tag and overall.

    Args:
        scores, labels: (N, T).
        thresholds: (T,) one threshold per tag, in `concepts` order.
        concepts: the T tag names.

    Returns:
        {"per_tag": {tag: {"threshold", "true_positives", "false_positives",
        "false_negatives", "precision", "recall", "f1"}}, "macro_f1": the mean F1 over the
        tags whose F1 is defined, "micro_f1": F1 of the counts pooled over all tags,
        "undefined": [tags neither present nor predicted, whose F1 is None]}. Precision and
        recall are None where their denominator is 0.
    """
    scores, labels = _checked(scores, labels)
    _check_columns(scores, concepts)
    thresholds = np.asarray(thresholds, np.float64).reshape(-1)
    if thresholds.shape != (len(concepts),):
        raise ValueError(f"expected {len(concepts)} thresholds, got {thresholds.shape[0]}.")
    decided = scores >= thresholds[None, :]
    per_tag = {}
    totals = np.zeros(3, np.int64)
    for column, tag in enumerate(concepts):
        applied, present = decided[:, column], labels[:, column]
        counts = np.array([(applied & present).sum(), (applied & ~present).sum(),
                           (~applied & present).sum()], np.int64)
        totals += counts
        tp, fp, fn = (int(c) for c in counts)
        per_tag[tag] = {
            "threshold": float(thresholds[column]),
            "true_positives": tp, "false_positives": fp, "false_negatives": fn,
            "precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / (tp + fn) if tp + fn else None,
            "f1": f1_score(tp, fp, fn),
        }
    defined = [row["f1"] for row in per_tag.values() if row["f1"] is not None]
    return {
        "per_tag": per_tag,
        "macro_f1": float(np.mean(defined)) if defined else None,
        "micro_f1": f1_score(*(int(c) for c in totals)),
        "undefined": [tag for tag, row in per_tag.items() if row["f1"] is None],
    }


def best_threshold(scores, labels) -> tuple[float, float] | None:
    """The threshold that maximises one tag's F1 over these photos, and that F1.

    The candidates are the photos' distinct scores; threshold t tags the photos scoring >= t,
    so it reproduces exactly the decisions it was chosen for. When several candidates reach the
    same best F1, the highest of them is kept: the rule that tags fewest photos for the same
    F1. None when no photo has the tag (there is no F1 to maximise).

    Args:
        scores: (N,); labels: (N,) 0 or 1.

    Returns:
        (threshold, F1 there), or None.
    """
    scores, labels = _checked(scores, labels)
    positives = int(labels.sum())
    if positives == 0:
        return None
    order = np.argsort(-scores, kind="stable")
    ranked_scores, ranked_labels = scores[order], labels[order]
    block_end = np.flatnonzero(np.r_[ranked_scores[1:] != ranked_scores[:-1], True])
    true_positives = np.cumsum(ranked_labels)[block_end]
    tagged = block_end + 1
    # F1 = 2 TP / (TP + FP + P) = 2 TP / (tagged + P); candidates from the highest threshold
    # down, so argmax's first maximum is the highest threshold among equals.
    f1 = 2 * true_positives / (tagged + positives)
    best = int(np.argmax(f1))
    return float(ranked_scores[block_end[best]]), float(f1[best])


def prevalence(labels) -> np.ndarray:
    """(T,) the share of photos that have each tag (0 for no photos)."""
    labels = np.asarray(labels, np.float64)
    if labels.ndim != 2:
        raise ValueError(f"expected (N, T) labels, got {labels.shape}.")
    if labels.shape[0] == 0:
        return np.zeros(labels.shape[1])
    return labels.mean(axis=0)


def frequency_baseline(train_prevalence, n_photos: int) -> np.ndarray:
    """The tag-frequency baseline's scores: every one of `n_photos` photos scored with each
    tag's training prevalence. (n_photos, T)."""
    row = np.asarray(train_prevalence, np.float64).reshape(1, -1)
    return np.repeat(row, n_photos, axis=0)


# === The report train and evaluate print ===


def evaluation_report(probabilities, labels, concepts: Sequence[str], thresholds,
                      train_prevalence) -> dict:
    """A head's scores on one split beside the tag-frequency baseline's, as JSON-ready values.

    Args:
        probabilities, labels: (N, T) the head's probabilities and the true tags.
        concepts: the T tag names.
        thresholds: (T,) the head's thresholds, in `concepts` order.
        train_prevalence: (T,) each tag's share of the training split (the baseline's scores).

    Returns:
        {"photos", "map", "baseline_map", "macro_f1", "micro_f1", "tags_defined",
        "undefined": [tags without a positive photo here], "per_tag": {tag: {"positives",
        "ap", "baseline_ap", "threshold", "precision", "recall", "f1"}}}. APs and F1s are None
        where undefined; the means leave those tags out.
    """
    probabilities = np.asarray(probabilities, np.float64)
    ranked = ranking_report(probabilities, labels, concepts)
    baseline = ranking_report(frequency_baseline(train_prevalence, len(probabilities)), labels,
                              concepts)
    decided = f1_report(probabilities, labels, thresholds, concepts)
    per_tag = {}
    for tag in concepts:
        row = decided["per_tag"][tag]
        per_tag[tag] = {"positives": ranked["per_tag"][tag]["positives"],
                        "ap": ranked["per_tag"][tag]["ap"],
                        "baseline_ap": baseline["per_tag"][tag]["ap"],
                        **{key: row[key] for key in ("threshold", "precision", "recall", "f1")}}
    return {
        "photos": ranked["photos"],
        "map": ranked["map"],
        "baseline_map": baseline["map"],
        "macro_f1": decided["macro_f1"],
        "micro_f1": decided["micro_f1"],
        "tags_defined": ranked["tags_defined"],
        "undefined": ranked["undefined"],
        "per_tag": per_tag,
    }


def _number(value: float | None, width: int, digits: int = 3) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def format_report(report: dict, concepts: Sequence[str], *, title: str = "",
                  split: str = "test") -> str:
    """`evaluation_report` as a plain text table: one row per tag, then the means."""
    width = max(12, *(len(tag) + 2 for tag in concepts))
    heading = f"{split} split: {report['photos']} photos"
    if title:
        heading = f"{title}, {heading}"
    lines = [heading,
             f"{'tag':<{width}}{'photos':>8}{'AP':>8}{'baseline AP':>13}{'threshold':>11}"
             f"{'F1':>7}"]
    for tag in concepts:
        row = report["per_tag"][tag]
        lines.append(f"{tag:<{width}}{row['positives']:>8}{_number(row['ap'], 8)}"
                     f"{_number(row['baseline_ap'], 13)}{_number(row['threshold'], 11)}"
                     f"{_number(row['f1'], 7)}")
    gain = (None if report["map"] is None or report["baseline_map"] is None
            else report["map"] - report["baseline_map"])
    lines.append(f"{'mAP':<{width}}{'':>8}{_number(report['map'], 8)}"
                 f"{_number(report['baseline_map'], 13)}"
                 + ("" if gain is None else f"   ({gain:+.3f} over the tag-frequency baseline)"))
    lines.append("F1 at the thresholds chosen on validation: "
                 f"macro {_number(report['macro_f1'], 0)}, micro {_number(report['micro_f1'], 0)}")
    undefined = report["undefined"]
    if undefined:
        lines.append(f"{len(undefined)} of {len(concepts)} tags have no positive photo in this "
                     f"split: their AP is undefined (-) and left out of the mAP "
                     f"({', '.join(undefined)})")
    else:
        lines.append(f"mAP over all {len(concepts)} tags; the baseline scores every photo with "
                     "each tag's training prevalence")
    return "\n".join(lines)
