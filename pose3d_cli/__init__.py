"""pose3d: video of a person in, 3D skeleton out (Pavllo et al., CVPR 2019, "VideoPose3D")."""

__version__ = "0.1.0"
