"""Network architectures, one module each. Importing this package is cheap
(it imports torch, but nothing from training or I/O)."""

from .base import ModelInfo
from .discriminator import Discriminator
from .interpolation import Interpolation
from .srcnn import SRCNN
from .srresnet import SRResNet

#: architecture name -> class; the names stored in weights files.
ARCHITECTURES = {
    "srresnet": SRResNet,
    "srcnn": SRCNN,
    "interpolation": Interpolation,
    "srgan_discriminator": Discriminator,
}

__all__ = ["ARCHITECTURES", "Discriminator", "Interpolation", "ModelInfo", "SRCNN", "SRResNet"]
