"""superres: single-image super-resolution with SRGAN, SRResNet and SRCNN.

The public API, importable from the top level::

    import superres
    img = superres.upscale("photo.jpg")            # PIL image, 4x, default model
    model = superres.load_model("srresnet-x4")     # or a path to .safetensors
    sr = superres.apply_srgan(lr_uint8_array)      # course-material helper

Names are imported lazily (on first use), so ``import superres`` stays cheap
and one broken optional module cannot break the package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# public name -> module that defines it
_EXPORTS = {
    "upscale": "api", "apply_srgan": "api", "make_upscaler": "api", "upscale_picture": "api",
    "create_model": "registry", "load_model": "registry", "list_models": "registry",
    "register_model": "registry", "DEFAULT_MODEL": "registry",
    "interpolate_models": "registry", "load_with_controls": "registry",
    "Upscaler": "inference", "plan_tiles": "inference",
    "read_image": "io.images", "write_image": "io.images", "Picture": "io.images",
    "upscale_animation": "animate", "read_animation": "io.animation", "write_animation": "io.animation",
    "save_weights": "weights", "load_weights": "weights", "ModelCard": "weights",
    "psnr": "metrics", "ssim": "metrics",
    "imresize": "resize",
    "tune_allocator": "_alloc",
    "SRResNet": "models", "Discriminator": "models", "SRCNN": "models", "Interpolation": "models",
    "SuperResError": "errors", "InputError": "errors", "ModelError": "errors", "OutputError": "errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'superres' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # for type checkers and IDEs
    from .animate import upscale_animation
    from .api import apply_srgan, make_upscaler, upscale, upscale_picture
    from .errors import InputError, ModelError, OutputError, SuperResError
    from .inference import Upscaler, plan_tiles
    from .io.animation import read_animation, write_animation
    from .io.images import Picture, read_image, write_image
    from .metrics import psnr, ssim
    from .models import SRCNN, Discriminator, Interpolation, SRResNet
    from .registry import (DEFAULT_MODEL, create_model, interpolate_models, list_models, load_model,
                           load_with_controls, register_model)
    from .resize import imresize
    from .weights import ModelCard, load_weights, save_weights
