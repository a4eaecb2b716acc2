"""The toy world: seeded synthetic clips whose emotion is carried by learnable audio and video
features, with captions, a toy EmoReAlM in the released layout, preference rows and SFT rows.

Design (decided before any result, docs/toy-world.md): :mod:`.spec` (emotions, cues, the clip
plan), :mod:`.media` (audio and frames of one clip), :mod:`.questions` (benchmark, SFT and
preference rows), :mod:`.build` (``write_toy_world``, the folder layout).
"""

from emorealm.toyworld.build import ToyWorldConfig, write_toy_world

__all__ = ["ToyWorldConfig", "write_toy_world"]
