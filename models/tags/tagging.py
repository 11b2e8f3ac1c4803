"""`tag(image)`: which tags describe this photo, each with a probability, a yes or no, and the
rule that decided it.

The photo is judged as its `judged_copy` (at most 512 pixels a side), like every task's, after
the odd-photo policy (`models.images.prepare_photo`). Two sources answer, tag by tag:

1. **The seed's MLP head** (`models.tags.head`), when the manifest names a trained `tags_head`
   and this machine has it and its backbone: it answers for the MIRFLICKR concepts it was trained
   on, each tag applied when its probability reaches the threshold chosen for that tag on the
   validation split.
2. **CLIP zero-shot**, for every other tag (all of them when there is no head): a two-way choice
   per tag between its prompts and its counter-prompts (`models.tags.vocabulary`). The tag's
   probability is `sigmoid(s * margin)`, where the margin is the photo's cosine with the
   prompts' mean vector minus its cosine with the counter-prompts', and `s` is CLIP's learned
   logit scale: exactly the two-way softmax CLIP's own zero-shot classifier would give. Applied
   when the probability is at least 0.5, i.e. when the prompts win. Multi-label: no softmax
   across tags, so a photo can have many tags or none.

A `threshold` given with the request replaces every rule's threshold, and each decision says so.
Without CLIP and without a head, `TagsUnavailable` says in one sentence what is missing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.images import judged_copy, prepare_photo
from models.tags.vocabulary import Tag, vocabulary_of

ZERO_SHOT = "CLIP zero-shot"
ZERO_SHOT_THRESHOLD = 0.5
"""Zero-shot applies a tag when its prompts beat its counter-prompts: probability 0.5."""
HEAD_COMMAND = "python -m models.train tags --data DIR"


class TagsUnavailable(RuntimeError):
    """Neither the CLIP weights nor a trained head are here; `summary` says so in one sentence,
    with the commands that fix it."""

    def __init__(self):
        from weights.prefetch import waiting_note

        arriving = waiting_note("clip")
        if arriving:
            self.summary = (f"Tags needs the CLIP weights, and {arriving}: try again once it has "
                            "arrived.")
        else:
            self.summary = ("Tags needs the CLIP weights (python -m weights pull clip) or a "
                            f"trained tag head ({HEAD_COMMAND}); neither is on this machine.")
        super().__init__(self.summary)


@dataclass(frozen=True)
class TagDecision:
    """One tag's answer.

    Attributes:
        tag: the tag's name.
        probability: how likely the tag fits, 0 to 1.
        applied: whether the tag is given to the photo.
        threshold: the probability from which it is applied.
        rule: the decision in one sentence, with its numbers.
        source: what answered ("CLIP zero-shot", or the trained head's description).
        own: whether the user typed the tag.
    """

    tag: str
    probability: float
    applied: bool
    threshold: float
    rule: str
    source: str
    own: bool = False


@dataclass(frozen=True)
class TagResult:
    """A photo's tags.

    Attributes:
        decisions: one per tag of the vocabulary, highest probability first (ties: vocabulary
            order).
        photo: the judged copy of the photo, what the probabilities were computed on.
        vocabulary: the tags judged, with their prompts, in the vocabulary's order.
        threshold: the request's threshold, or None when each rule used its own.
        notes: sentences a user should read beside the result.
    """

    decisions: tuple[TagDecision, ...]
    photo: np.ndarray
    vocabulary: tuple[Tag, ...]
    threshold: float | None = None
    notes: tuple[str, ...] = ()

    @property
    def applied(self) -> tuple[str, ...]:
        """The tags given to the photo, most probable first."""
        return tuple(d.tag for d in self.decisions if d.applied)

    @property
    def probabilities(self) -> dict[str, float]:
        return {d.tag: d.probability for d in self.decisions}

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(d.tag for d in self.decisions)

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.source for d in self.decisions))

    def decision(self, tag: str) -> TagDecision:
        for decision in self.decisions:
            if decision.tag == tag:
                return decision
        raise KeyError(tag)


# === CLIP zero-shot ===


def clip_available() -> bool:
    """Whether the CLIP weights are on this machine (never downloads)."""
    import weights

    return weights.available("clip")


def zero_shot_margins(images, tags: tuple[Tag, ...]) -> np.ndarray:
    """(N, T) cosine margins: each image's cosine with each tag's prompts minus with its
    counter-prompts (each side the re-normalised mean of its prompts' embeddings)."""
    from models import clip as clip_module

    return zero_shot_margins_of_embeddings(clip_module.get_clip().embed_images(list(images)),
                                           tags)


def zero_shot_margins_of_embeddings(vectors, tags: tuple[Tag, ...]) -> np.ndarray:
    """`zero_shot_margins` of images whose unit CLIP embeddings (N x D) are given."""
    from models import clip as clip_module

    clip = clip_module.get_clip()
    prompts = clip.label_embeddings({tag.name: tag.prompts for tag in tags})
    counters = clip.label_embeddings({tag.name: tag.counter_prompts for tag in tags})
    vectors = np.asarray(vectors)
    return (vectors @ prompts.T - vectors @ counters.T).astype(np.float64)


def zero_shot_scale() -> float:
    """The margin's scale: CLIP's learned logit scale (its own softmax temperature)."""
    from models import clip as clip_module

    return clip_module.get_clip().logit_scale


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # = 1 / (1 + exp(-x)), without overflow


def zero_shot_probabilities(images, tags: tuple[Tag, ...]) -> np.ndarray:
    """(N, T) zero-shot probabilities: sigmoid(logit scale x margin), per tag."""
    return sigmoid(zero_shot_scale() * zero_shot_margins(images, tags))


def zero_shot_probabilities_of_embeddings(vectors, tags: tuple[Tag, ...]) -> np.ndarray:
    """`zero_shot_probabilities` of images whose unit CLIP embeddings (N x D) are given."""
    return sigmoid(zero_shot_scale() * zero_shot_margins_of_embeddings(vectors, tags))


def _zero_shot_rule(tag: Tag, probability: float, margin: float, scale: float,
                    threshold: float, own_threshold: bool) -> str:
    # For the two-way softmax, probability >= 0.5 is the same as margin >= 0: say it the plain
    # way when the threshold is the rule's own.
    versus = (f"CLIP: {tag.prompts[0]!r} against {tag.counter_prompts[0]!r} (each the mean of "
              f"{len(tag.prompts)} and {len(tag.counter_prompts)} prompts): cosine margin "
              f"{margin:+.3f}, sigmoid({scale:.0f} x margin) = {probability:.2f}")
    if own_threshold:
        return versus + (f", at least {threshold:.2f} (your threshold)" if probability >= threshold
                         else f", below {threshold:.2f} (your threshold)")
    return versus + (", the prompts win" if probability >= threshold else
                     ", the counter-prompts win")


# === The trained head ===


def trained_head():
    """The trained head the manifest names and this machine has, or None."""
    from models.tags.head import trained_tags_head

    return trained_tags_head()


def describe_head(head) -> str:
    return f"trained {head.configuration} head on {head.backbone} embeddings"


def head_embedder(head):
    """The backbone the head was trained on, or (None, why) when it is missing or changed."""
    import weights
    from models.tags.embedders import load_embedder

    try:
        embedder = load_embedder(head.backbone)
    except weights.WeightsUnavailable:
        return None, (f"The trained tag head needs the {head.backbone} backbone, which is not on "
                      "this machine")
    if embedder.key != head.embedder_key:
        return None, (f"The trained tag head was trained on another copy of the {head.backbone} "
                      "weights than this machine has")
    return embedder, None


def head_probabilities(images, head, embedder) -> np.ndarray:
    """(N, concepts) the head's probabilities for images, embedded as its training cache was."""
    return np.asarray(head.probabilities(embedder.embed_photos(list(images))), np.float64)


def _head_rule(probability: float, threshold: float, own_threshold: bool) -> str:
    where = "your threshold" if own_threshold else "this tag's threshold, chosen on validation"
    return (f"{probability:.2f} {'is at least' if probability >= threshold else 'is below'} "
            f"{threshold:.2f} ({where})")


# === The judgement ===


def check_threshold(threshold) -> float | None:
    """None, or a number strictly between 0 and 1."""
    if threshold is None:
        return None
    if (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
            or not math.isfinite(threshold) or not 0 < threshold < 1):
        from models.tags.vocabulary import InvalidTags

        raise InvalidTags(f"threshold: got {threshold!r:.40}; expected a number between 0 and 1 "
                          "(None: each rule's own).")
    return float(threshold)


def plan(tags: tuple[Tag, ...]):
    """Which source answers which tags: (head or None, embedder, head tags, zero-shot tags,
    notes).

    Raises:
        TagsUnavailable: some tag has no source on this machine.
    """
    notes = []
    head = trained_head()
    embedder = None
    if head is not None:
        embedder, why = head_embedder(head)
        if embedder is None:
            notes.append(why + ": CLIP zero-shot answers instead.")
            head = None
    known = set(head.concepts) if head is not None else set()
    by_head = tuple(tag for tag in tags if tag.name in known)
    by_clip = tuple(tag for tag in tags if tag.name not in known)
    if by_clip and not clip_available():
        if not by_head:
            raise TagsUnavailable()
        typed = [t.name for t in by_clip if t.own]
        if typed:
            from models.tags.vocabulary import InvalidTags

            raise InvalidTags("extra_tags: got " + ", ".join(map(repr, typed[:5])) + "; "
                              "expected tags the trained head knows (" + ", ".join(head.concepts)
                              + "): tags of your own need the CLIP weights (python -m weights "
                              "pull clip).")
        notes.append(f"Only the trained head's {len(by_head)} tags were judged: the other "
                     f"{len(by_clip)} need the CLIP weights (python -m weights pull clip).")
        by_clip = ()
    return head, embedder, by_head, by_clip, notes


def tag(image, vocabulary=None, threshold=None, extra=()) -> TagResult:
    """Tag a photo.

    Args:
        image: anything `prepare_photo` takes (odd photos follow its policy; the notes say what
            was done).
        vocabulary: tag names to judge (None: MIRFLICKR-25K's 24 concepts).
        threshold: one probability threshold for every tag, in (0, 1); None uses each rule's
            own (0.5 for zero-shot, the validation-chosen one per tag for the head).
        extra: the user's own tags, judged besides `vocabulary` (zero-shot).

    Returns:
        A TagResult.

    Raises:
        models.images.InvalidImage: the photo cannot be used.
        models.tags.vocabulary.InvalidTags: unusable tags or threshold.
        TagsUnavailable: nothing on this machine can tag.
    """
    tags = vocabulary_of(vocabulary, extra)  # bad tags fail before any model time
    threshold = check_threshold(threshold)
    prepared = prepare_photo(image)
    photo = judged_copy(prepared.image)
    head, embedder, by_head, by_clip, notes = plan(tags)
    decisions: dict[str, TagDecision] = {}
    own = threshold is not None
    if by_head:
        row = head_probabilities([photo], head, embedder)[0]
        column = {name: index for index, name in enumerate(head.concepts)}
        for item in by_head:
            probability = float(row[column[item.name]])
            cut = threshold if own else float(head.thresholds[item.name])
            decisions[item.name] = TagDecision(
                item.name, probability, probability >= cut, cut,
                _head_rule(probability, cut, own), describe_head(head), item.own)
    if by_clip:
        scale = zero_shot_scale()
        margins = zero_shot_margins([photo], by_clip)[0]
        probabilities = sigmoid(scale * margins)
        cut = threshold if own else ZERO_SHOT_THRESHOLD
        for item, margin, probability in zip(by_clip, margins, probabilities, strict=True):
            probability = float(probability)
            decisions[item.name] = TagDecision(
                item.name, probability, probability >= cut, cut,
                _zero_shot_rule(item, probability, float(margin), scale, cut, own), ZERO_SHOT,
                item.own)
    judged = tuple(item for item in tags if item.name in decisions)
    ordered = [decisions[item.name] for item in judged]
    ordered.sort(key=lambda d: -d.probability)  # stable: ties keep the vocabulary's order
    notes = [*prepared.notes(), *notes]
    if by_clip and by_head:
        notes.append(f"The trained head answers for its {len(by_head)} tags; CLIP zero-shot "
                     f"for the {len(by_clip)} others.")
    return TagResult(tuple(ordered), photo, judged, threshold, tuple(notes))
