import os

import pytest
import torch

# Tests run on CPU with tiny models; keep them deterministic and light.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def tiny_srresnet():
    from superres.models import SRResNet

    return SRResNet(scale=4, channels=8, n_blocks=1).eval()
