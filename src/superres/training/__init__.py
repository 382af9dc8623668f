"""Training: SRResNet (MSE) -> SRGAN (perceptual loss), and SRCNN.

Import :func:`superres.training.train.train` to run a recipe from Python; the
``superres train`` command wraps it. Nothing here is imported by inference code.
"""
