"""Network architectures, one module each. Importing this package is cheap
(it imports torch, but nothing from training or I/O)."""

from .base import Border, ModelDescriptor, ModelInfo, describe
from .compact import CompactSR
from .discriminator import Discriminator, UNetDiscriminatorSN
from .interpolation import Interpolation
from .keras_edsr import KerasEDSR, KerasWDSR
from .keras_srgan import KerasSRResNet
from .msrresnet import MSRResNet
from .rrdbnet import RRDBNet
from .srcnn import SRCNN
from .srresnet import SRResNet
from .srvgg import SRVGGNetCompact

#: architecture name -> class; the names stored in weights files.
ARCHITECTURES = {
    "srresnet": SRResNet,
    "srcnn": SRCNN,
    "interpolation": Interpolation,
    "srgan_discriminator": Discriminator,
    "unet_discriminator_sn": UNetDiscriminatorSN,
    "compact": CompactSR,
    # architectures of foreign weights run through superres.convert (never trained by superres)
    "rrdbnet": RRDBNet,
    "srvgg": SRVGGNetCompact,
    "msrresnet": MSRResNet,
    "keras_srresnet": KerasSRResNet,
    "keras_edsr": KerasEDSR,
    "keras_wdsr": KerasWDSR,
}

__all__ = ["ARCHITECTURES", "Border", "CompactSR", "Discriminator", "Interpolation", "ModelDescriptor", "ModelInfo",
           "SRCNN", "SRResNet", "UNetDiscriminatorSN", "describe"]
