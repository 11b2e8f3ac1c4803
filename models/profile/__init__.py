"""Profile: does a grid of photos hold one visual concept, which photos break it, what to
change, and which good profiles look alike? From "InstaVis Checker" (../shared/seeds/000).
`check(photos) -> ProfileReport` is the entry; `python -m models.profile index DIR` builds the
similar-profiles index; `models.profile.ran56` is the research's Residual Attention Network-56."""

from models.profile.check import MAX_PHOTOS, MIN_PHOTOS, ProfileError, ProfileReport, check

__all__ = ["MAX_PHOTOS", "MIN_PHOTOS", "ProfileError", "ProfileReport", "check"]
