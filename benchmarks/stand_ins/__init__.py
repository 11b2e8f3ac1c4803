"""Stand-in models for tests and benchmarks, built with the real Keras and keras-hub classes.

- `tiny_clip`: a deterministic CLIP preset, tiny or at ViT-B/32's size, saved and loaded through
  the same keras-hub preset code as the real checkpoint (the Hub is out of reach here).
- `region_models`: models whose true explanation is known (each scores one region of the photo
  only), on photos that installed packages ship.
- `mask_layers`: the Keras layers those models are made of (a fixed spatial mask, and class
  tokens for the ViT-like ones).
- `tiny_vgg`: a tiny keras-hub VGG preset in the `vgg16` slot.
- `postgres`: a throwaway schema on a PostgreSQL server, for the store's tests and benchmark.

They live here, not under tests/, because the benchmarks use them too and the product's code
never imports tests.
"""
