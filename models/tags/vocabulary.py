"""The tags a photo is judged against: MIRFLICKR-25K's 24 concepts and the user's own, each with
the CLIP prompts its zero-shot decision compares.

Zero-shot tagging is multi-label: every tag is its own yes/no question, so the tags never
compete in one softmax. A tag's question is a two-way choice between its *prompts* ("a photo of
a dog") and its *counter-prompts*: a natural opposite where one exists ("a photo taken
outdoors" for indoor), else a neutral description of any photo ("a photo."). CLIP is known to
read negations ("a photo with no dog") poorly, so counter-prompts never negate.
"""

from __future__ import annotations

from dataclasses import dataclass

CONCEPTS = ("animals", "baby", "bird", "car", "clouds", "dog", "female", "flower", "food",
            "indoor", "lake", "male", "night", "people", "plant_life", "portrait", "river", "sea",
            "sky", "structures", "sunset", "transport", "tree", "water")
"""MIRFLICKR-25K's 24 concepts (Huiskes and Lew 2008), the tags the research trained on, in the
order of a label matrix's columns (`models.tags.mirflickr` reads the dataset in this order)."""

NEUTRAL_COUNTER_PROMPTS = ("a photo.", "a picture of something.", "an ordinary photo.")
"""What a photo is when a tag does not fit it: the default counter-prompts."""

OWN_TAG_TEMPLATES = ("a photo of {}.", "a photo showing {}.", "a picture of {}.")
"""Prompts for a tag the user typed; MIRFLICKR's concepts have their own below."""

_CONCEPT_PROMPTS: dict[str, tuple[str, ...]] = {
    "animals": ("a photo of an animal.", "a photo of animals."),
    "baby": ("a photo of a baby.", "a photo of an infant."),
    "bird": ("a photo of a bird.", "a photo of birds."),
    "car": ("a photo of a car.", "a photo of cars."),
    "clouds": ("a photo of clouds.", "a photo of a cloudy sky."),
    "dog": ("a photo of a dog.", "a photo of dogs."),
    "female": ("a photo of a woman.", "a photo of a girl."),
    "flower": ("a photo of a flower.", "a photo of flowers."),
    "food": ("a photo of food.", "a photo of a meal."),
    "indoor": ("a photo taken indoors.", "a photo of a room."),
    "lake": ("a photo of a lake.",),
    "male": ("a photo of a man.", "a photo of a boy."),
    "night": ("a photo taken at night.", "a night scene."),
    "people": ("a photo of people.", "a photo of a person."),
    "plant_life": ("a photo of plants.", "a photo of greenery and vegetation."),
    "portrait": ("a portrait photo of a person.", "a close-up portrait of a face."),
    "river": ("a photo of a river.", "a photo of a stream."),
    "sea": ("a photo of the sea.", "a photo of the ocean."),
    "sky": ("a photo of the sky.", "a photo with a lot of sky."),
    "structures": ("a photo of a building.", "a photo of architecture.", "a photo of a bridge."),
    "sunset": ("a photo of a sunset.", "a photo of a sunrise."),
    "transport": ("a photo of a vehicle.", "a photo of a means of transport."),
    "tree": ("a photo of a tree.", "a photo of trees."),
    "water": ("a photo of water.", "a photo with water in it."),
}

_CONCEPT_COUNTER_PROMPTS: dict[str, tuple[str, ...]] = {
    # The concepts with a natural opposite: the question is then "which of the two?", which
    # CLIP answers better than "this or any photo?".
    "indoor": ("a photo taken outdoors.", "an outdoor scene."),
    "night": ("a photo taken in daylight.", "a daytime scene."),
}

MAX_OWN_TAGS = 20
MAX_TAG_CHARS = 32
_ALLOWED_PUNCTUATION = frozenset(" -_")  # the gallery accepts the same, so any tag can be posted


class InvalidTags(ValueError):
    """Tags that cannot be used; the message is one line naming the field, the value and what
    is accepted."""


@dataclass(frozen=True)
class Tag:
    """One tag and its zero-shot question.

    Attributes:
        name: the tag as results name it ("plant_life", or the user's "golden retriever").
        prompts: what a photo the tag fits looks like, to CLIP.
        counter_prompts: what a photo it does not fit looks like.
        own: whether the user typed it (it has template prompts, not curated ones).
    """

    name: str
    prompts: tuple[str, ...]
    counter_prompts: tuple[str, ...]
    own: bool = False

    @property
    def words(self) -> str:
        """The tag in plain words, for prompts and captions ("plant life")."""
        return self.name.replace("_", " ")


def concept_tag(name: str) -> Tag:
    """MIRFLICKR concept `name` with its curated prompts."""
    return Tag(name, _CONCEPT_PROMPTS[name],
               _CONCEPT_COUNTER_PROMPTS.get(name, NEUTRAL_COUNTER_PROMPTS))


def own_tag(name: str) -> Tag:
    """A tag the user typed, with the template prompts."""
    return Tag(name, tuple(t.format(name) for t in OWN_TAG_TEMPLATES), NEUTRAL_COUNTER_PROMPTS,
               own=True)


DEFAULT_VOCABULARY: tuple[Tag, ...] = tuple(concept_tag(name) for name in CONCEPTS)


def _shown(value: object) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def clean_tag(value: object, field: str) -> str:
    """One typed tag, normalised (trimmed, inner spaces collapsed, lower case).

    Raises:
        InvalidTags: not a string of 1 to MAX_TAG_CHARS letters, digits, spaces, hyphens,
            or underscores.
    """
    accepts = f"1 to {MAX_TAG_CHARS} letters, digits, spaces, hyphens or underscores"
    if not isinstance(value, str):
        raise InvalidTags(f"{field}: got {_shown(value)}; expected {accepts}.")
    text = " ".join(value.split()).lower()
    if (not text or len(text) > MAX_TAG_CHARS
            or not all(c.isalnum() or c in _ALLOWED_PUNCTUATION for c in text)):
        raise InvalidTags(f"{field}: got {_shown(value)}; expected {accepts}.")
    return text


def parse_own_tags(text: object, field: str = "extra_tags") -> tuple[str, ...]:
    """The user's own tags from a comma-separated string (or a list of strings), normalised,
    duplicates dropped, in the order typed. Empty input gives no tags.

    Raises:
        InvalidTags: a tag is unusable, or there are more than MAX_OWN_TAGS.
    """
    if text is None:
        return ()
    if isinstance(text, str):
        parts = [part for part in text.split(",") if part.strip()]
    elif isinstance(text, (list, tuple)):
        parts = list(text)
    else:
        raise InvalidTags(f"{field}: got {_shown(text)}; expected tags separated by commas.")
    if len(parts) > MAX_OWN_TAGS:
        raise InvalidTags(f"{field}: got {len(parts)} tags; expected at most {MAX_OWN_TAGS}.")
    cleaned = [clean_tag(part, f"{field}[{index}]") for index, part in enumerate(parts)]
    return tuple(dict.fromkeys(cleaned))


def vocabulary_of(names=None, extra=()) -> tuple[Tag, ...]:
    """The tags to judge: `names` (None: the 24 MIRFLICKR concepts) then the user's `extra`
    tags. A name that is a MIRFLICKR concept ("sky", "plant life") keeps its curated prompts;
    any other gets the templates. Duplicates are dropped.

    Raises:
        InvalidTags: an unusable tag, or no tags at all.
    """
    chosen = CONCEPTS if names is None else parse_own_tags(names, "vocabulary")
    tags: dict[str, Tag] = {}
    for name in (*chosen, *parse_own_tags(extra)):
        key = name.replace(" ", "_")
        if key in _CONCEPT_PROMPTS:
            tags.setdefault(key, concept_tag(key))
        else:
            tags.setdefault(name, own_tag(name))
    if not tags:
        raise InvalidTags("vocabulary: got no tags; expected at least one tag.")
    return tuple(tags.values())
