"""Outputs of a lifted clip: the side-by-side video and the export formats.

- :mod:`pose3d_cli.render.draw` — drawing one frame: the 2D skeleton over the input, the 3D
  skeleton from an orbiting camera (own projection + OpenCV lines, one reused canvas).
- :mod:`pose3d_cli.render.side_by_side` — the streaming render loop (decode → draw → encode).
- :mod:`pose3d_cli.render.export` — JSON for web viewers, tidy CSV, BVH with solved rotations.
"""
