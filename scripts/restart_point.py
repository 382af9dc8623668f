"""Write a GAN run's restart point (EMA generator + discriminator, float16) to a fixed folder.

    python scripts/restart_point.py runs/RUN training_checkpoints/restart

Commit the folder: a session on a new machine continues the run with the run's config plus
``--set init_from=training_checkpoints/restart/generator.safetensors
--set init_disc_from=training_checkpoints/restart/discriminator.safetensors`` (fresh optimisers).
"""

import json
import sys

from superres.training.export import write_restart_point

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    info = write_restart_point(sys.argv[1], sys.argv[2])
    print(json.dumps({k: info[k] for k in ("run", "step", "elapsed_s", "ema", "last_validation")}, indent=2))
