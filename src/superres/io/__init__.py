"""Image, animation and video input/output."""
