"""The temporal dilated-convolution lifter: model, checkpoints, and the one ``predict``."""
