"""Chapter 10's given detectors (course_lib.detectors): the one-stage TinyDetector and the two-stage
pipeline built on it, run with the reference functions, with tolerant bounds on what they reach."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import detectors
from course_lib.data import shapes_detection
from course_lib.detection_eval import coco_map, gt_of
from course_lib.reference import detection
from course_lib.reference.losses import sigmoid_focal_loss


def test_focal_loss_is_chapter_6s():
    x, t = np.random.default_rng(0).normal(size=(5, 3)), np.eye(3)[[0, 1, 2, 0, 1]]
    np.testing.assert_allclose(detectors.focal_loss(torch.from_numpy(x), torch.from_numpy(t)).numpy(),
                               sigmoid_focal_loss(x, t), rtol=1e-12)


def test_tiny_detector_shapes_follow_the_anchor_order():
    model = detectors.TinyDetector()
    logits, deltas = model(torch.zeros(2, 3, 48, 48))
    assert logits.shape == (2, 12 * 12 * 2, 3) and deltas.shape == (2, 12 * 12 * 2, 4)
    assert len(detection.rpn_anchors((12, 12), 4, sizes=(12, 20), ratios=(1.0,))) == 12 * 12 * 2


def test_roi_targets_label_by_iou_and_encode_to_the_object():
    proposals = [np.array([[0.0, 0, 10, 10], [1, 0, 11, 10], [30, 30, 40, 40]]), np.zeros((0, 4))]
    gts = [(np.array([[0.0, 0, 10, 10]]), np.array([2])), (np.zeros((0, 4)), np.zeros(0, dtype=np.int64))]
    classes, deltas = detectors.roi_targets(proposals, gts, detection.encode_boxes)
    np.testing.assert_array_equal(classes, [3, 3, 0])  # 0 = background, then 1 + the 0-based label
    np.testing.assert_allclose(deltas[1], detection.encode_boxes(gts[0][0], proposals[0][[1]])[0], rtol=1e-6)
    np.testing.assert_array_equal(deltas[[0, 2]], 0.0)


def _anchor_targets(coco, n, anchors):
    labels = np.zeros((n, len(anchors)), dtype=np.int64)
    classes, deltas = np.zeros_like(labels), np.zeros((n, len(anchors), 4))
    for i in range(n):
        gt, cls = gt_of(coco, i)
        labels[i], matched = detection.match_anchors(anchors, gt, 0.5, 0.4)
        if len(gt):
            classes[i], deltas[i] = cls[matched], detection.encode_boxes(gt[matched], anchors)
    return labels, classes, deltas


@pytest.mark.slow
def test_one_stage_and_two_stage_detectors_train_on_the_shapes():
    torch.set_num_threads(1)
    X_train, coco_train = shapes_detection(400, seed=0, min_side=12)
    X_test, coco_test = shapes_detection(100, seed=1, min_side=12)
    anchors = detection.rpn_anchors((12, 12), 4, sizes=(12, 20), ratios=(1.0,))
    run = detectors.train_one_stage(X_train, *_anchor_targets(coco_train, len(X_train), anchors), progress=False)
    one = detectors.to_coco(detectors.detect(run.model, X_test, anchors, detection.decode_boxes,
                                             detection.batched_nms), coco_test)
    assert coco_map(coco_test, one, [0.5]) >= 0.9
    assert coco_map(coco_test, one) >= 0.6

    def proposals(images):
        return detectors.propose(run.model, images, anchors, detection.decode_boxes, detection.batched_nms, top_n=6)

    gts = [gt_of(coco_train, i) for i in range(len(X_train))]
    props = [np.concatenate([p, g]) for p, (g, _) in zip(proposals(X_train), gts, strict=True)]
    assert all(len(p) <= 6 + len(g) for p, (g, _) in zip(props, gts, strict=True))
    feats = detectors.roi_features(run.model, X_train, props, detection.roi_pool, 3, 1 / 4)
    assert feats.shape == (sum(len(p) for p in props), 48 * 3 * 3)
    head = detectors.train_two_stage(feats, *detectors.roi_targets(props, gts, detection.encode_boxes),
                                     progress=False)
    assert head.seconds < 30
    props_test = proposals(X_test)
    hits = [detection.box_iou(gt_of(coco_test, i)[0], p).max(axis=1, initial=0.0) >= 0.5
            for i, p in enumerate(props_test)]
    assert np.concatenate(hits).mean() >= 0.95  # the proposals cover the objects
    feats_test = detectors.roi_features(run.model, X_test, props_test, detection.roi_pool, 3, 1 / 4)
    two = detectors.to_coco(detectors.detect_two_stage(head.model, feats_test, props_test, detection.decode_boxes,
                                                       detection.batched_nms), coco_test)
    assert coco_map(coco_test, two, [0.5]) >= 0.85
    assert coco_map(coco_test, two) >= 0.4
