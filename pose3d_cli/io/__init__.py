"""File input/output: atomic writes, keypoint and pose files, video (see :mod:`pose3d_cli.io.video`)."""
