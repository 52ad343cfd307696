"""Joint layouts by name."""

import numpy as np
import pytest

from pose3d_cli.errors import InputError
from pose3d_cli.skeleton import (
    COCO17,
    H36M17,
    HUMANEVA15,
    LAYOUTS,
    coco17_to_h36m17,
    get_layout,
    h36m32_to_h36m17,
)


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_layout_consistency(layout):
    n = layout.num_joints
    assert len(layout.parents) == n and len(set(layout.joint_names)) == n
    assert len(layout.left) == len(layout.right)
    for l, r in zip(layout.left, layout.right):
        ln, rn = layout.joint_names[l], layout.joint_names[r]
        assert ln.replace("left", "") == rn.replace("right", ""), (ln, rn)
    perm = layout.flip_permutation()
    assert sorted(perm) == list(range(n)) and (perm[perm] == np.arange(n)).all()
    for a, b in layout.edges:
        assert 0 <= a < n and 0 <= b < n


def test_reference_facts():
    assert H36M17.parents == (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
    assert H36M17.left == (4, 5, 6, 11, 12, 13) and H36M17.right == (1, 2, 3, 14, 15, 16)
    assert COCO17.left == (1, 3, 5, 7, 9, 11, 13, 15)
    assert COCO17.index("right_ankle") == 16 and HUMANEVA15.num_joints == 15
    assert H36M17.edge_side((0, 1)) == "right" and H36M17.edge_side((8, 11)) == "left"


def test_get_layout_aliases_and_errors():
    assert get_layout("coco") is COCO17 and get_layout("H36M") is H36M17
    with pytest.raises(InputError, match="unknown joint layout 'mpii'"):
        get_layout("mpii")
    with pytest.raises(KeyError, match="no joint 'tail'"):
        H36M17.index("tail")


def test_conversions():
    x32 = np.arange(32 * 3, dtype=float).reshape(32, 3)
    x17 = h36m32_to_h36m17(x32)
    assert x17.shape == (17, 3) and x17[11, 0] == 17 * 3
    with pytest.raises(InputError):
        h36m32_to_h36m17(np.zeros((17, 3)))
    coco = np.random.default_rng(0).normal(size=(5, 17, 2))
    h36m = coco17_to_h36m17(coco)
    np.testing.assert_allclose(h36m[:, 0], (coco[:, 11] + coco[:, 12]) / 2)
    np.testing.assert_allclose(h36m[:, 16], coco[:, 10])
