"""Inference: pure tiling maths (:mod:`.tiling`) and the stateless :class:`Upscaler`."""
from .tiling import Tile, plan_tiles
from .upscaler import Upscaler, pick_device

__all__ = ["Tile", "Upscaler", "pick_device", "plan_tiles"]
