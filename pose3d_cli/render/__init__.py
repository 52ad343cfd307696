"""The side-by-side video of a lifted clip (the file exports live in :mod:`pose3d_cli.io`).

- :mod:`pose3d_cli.render.draw` — drawing one frame: the 2D skeleton over the input, the 3D
  skeleton from an orbiting camera (own projection + OpenCV lines, one reused canvas).
- :mod:`pose3d_cli.render.side_by_side` — the streaming render loop (decode → draw → encode).
"""
