"""detectron2 backend: the install message, and the conversion of its outputs.

detectron2 is not on PyPI and cannot be built here, so ``Instances`` is replaced by a minimal
stand-in with the documented fields (``pred_boxes.tensor``, ``scores``, ``pred_keypoints``) holding
real torch tensors; that stand-in is the only mock in this file.
"""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pose3d_cli.errors import BackendUnavailableError
from pose3d_cli.keypoints import available_detectors, get_detector
from pose3d_cli.keypoints.detectron2_backend import CONFIG, instances_to_detections
from pose3d_cli.keypoints.tracking import select_main_person

needs_no_detectron2 = pytest.mark.skipif(importlib.util.find_spec("detectron2") is not None,
                                         reason="detectron2 is installed")


@needs_no_detectron2
def test_missing_detectron2_gives_the_install_command():
    with pytest.raises(BackendUnavailableError) as info:
        get_detector("detectron2", "cpu")
    msg = str(info.value)
    assert "pip install" in msg and "facebookresearch/detectron2" in msg and "\n" not in msg
    assert available_detectors()["detectron2"] == msg


class _Instances(SimpleNamespace):
    def __len__(self) -> int:
        return int(self.scores.shape[0])


def test_instances_to_detections_and_person_choice():
    assert CONFIG == "COCO-Keypoints/keypoint_rcnn_R_101_FPN_3x.yaml"
    g = torch.Generator().manual_seed(0)
    frames = []
    for t in range(5):
        kp_a = torch.rand(17, 3, generator=g) * torch.tensor([40.0, 100.0, 1.0]) + torch.tensor([100.0 + t, 50, 0])
        kp_b = torch.rand(17, 3, generator=g) * torch.tensor([40.0, 100.0, 1.0]) + torch.tensor([400.0, 50, 0])
        inst = _Instances(pred_boxes=SimpleNamespace(tensor=torch.tensor([[400.0, 40, 440, 160],
                                                                          [100.0 + t, 40, 140 + t, 160]])),
                          scores=torch.tensor([0.75, 0.98]), pred_keypoints=torch.stack([kp_b, kp_a]))
        dets = instances_to_detections(inst, min_box_score=0.7)
        assert [d.box_score for d in dets] == pytest.approx([0.98, 0.75])  # sorted by score
        np.testing.assert_allclose(dets[0].keypoints, kp_a.numpy(), rtol=1e-6)
        frames.append(dets)
    empty = _Instances(pred_boxes=SimpleNamespace(tensor=torch.zeros(0, 4)), scores=torch.zeros(0),
                       pred_keypoints=torch.zeros(0, 17, 3))
    assert instances_to_detections(empty) == []
    person = select_main_person(frames)
    assert person.present.all() and np.allclose(person.boxes[:, 0], 100 + np.arange(5))
