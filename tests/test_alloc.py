import subprocess
import sys

import pytest

CODE = "import superres; print(superres.tune_allocator())"


def _run(env_value=None):
    import os

    env = dict(os.environ)
    env.pop("SUPERRES_MALLOC", None)
    if env_value is not None:
        env["SUPERRES_MALLOC"] = env_value
    return subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env, check=True).stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_allocator_tuning_applies_on_glibc_and_can_be_turned_off():
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert _run() == "True"
    for off in ("default", "off", "0"):
        assert _run(off) == "False"


def test_allocator_tuning_keeps_results_identical():
    """Only where memory comes from changes: the same model gives the same bytes."""
    import numpy as np

    from superres import tune_allocator
    from superres.inference import Upscaler
    from superres.models import CompactSR

    m = CompactSR(num_feat=8, num_conv=2).eval()
    arr = (np.random.default_rng(0).random((40, 33, 3)) * 255).astype(np.uint8)
    before = Upscaler(m, tile=16, precision="fp32").upscale_array(arr)
    tune_allocator()
    after = Upscaler(m, tile=16, precision="fp32").upscale_array(arr)
    assert np.array_equal(before, after)
