"""Chapter 10 references: boxes, NMS, anchors, box coding, RoI pooling, YOLO decoding and the metrics.

torchvision is not installed, so each reference is checked against a brute-force version written
differently, against hand-computed values, against properties (Hypothesis), and the given COCO mAP
(:mod:`course_lib.detection_eval`) against pycocotools itself.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import data, detection_eval
from course_lib.reference import detection, detection_metrics
from course_lib.testing import EXERCISES, CheckFailure, ForbiddenError, check, run_exercise
from course_lib.testing.detection import random_boxes, random_coco

SETTINGS = settings(deadline=None, max_examples=25)


def boxes_strategy(max_n=8, degenerate=0.2):
    return st.tuples(st.integers(0, 2**31 - 1), st.integers(0, max_n)).map(
        lambda t: random_boxes(np.random.default_rng(t[0]), t[1], degenerate=degenerate))


def iou_brute(a, b):
    """One pair at a time, with Python floats."""
    out = np.zeros((len(a), len(b)))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
            ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
            inter = iw * ih
            union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter
            out[i, j] = inter / union if union > 0 else 0.0
    return out


def nms_brute(boxes, scores, thr):
    """Repeatedly take the best remaining box and delete what overlaps it (no precomputed order)."""
    remaining, keep = list(range(len(boxes))), []
    while remaining:
        best = max(remaining, key=lambda i: (scores[i], -i))
        keep.append(best)
        remaining = [i for i in remaining if i != best
                     and iou_brute(boxes[[best]], boxes[[i]])[0, 0] <= thr]
    return np.array(keep, dtype=np.int64)


# --------------------------------------------------------------------------- IoU and conversions

@SETTINGS
@given(boxes_strategy(), boxes_strategy())
def test_box_iou_matches_brute_force_is_symmetric_and_in_unit_interval(a, b):
    iou = detection.box_iou(a, b)
    assert iou.shape == (len(a), len(b))
    np.testing.assert_allclose(iou, iou_brute(a, b), atol=1e-12)
    np.testing.assert_allclose(iou, detection.box_iou(b, a).T, atol=1e-15)
    assert np.all((iou >= 0) & (iou <= 1)) and not np.isnan(iou).any()


def test_box_iou_known_values_and_degenerate_boxes():
    a = np.array([[0.0, 0, 2, 2]])
    assert detection.box_iou(a, np.array([[1.0, 1, 3, 3]]))[0, 0] == pytest.approx(1 / 7)
    np.testing.assert_array_equal(detection.box_iou(a, a), [[1.0]])
    zero = np.array([[1.0, 1, 1, 1]])
    np.testing.assert_array_equal(detection.box_iou(zero, zero), [[0.0]])
    assert detection.box_iou(a.astype(np.float32), a.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        detection.box_iou(np.zeros((2, 3)), a)


@SETTINGS
@given(boxes_strategy(degenerate=0.0), st.sampled_from(["xywh", "cxcywh"]))
def test_box_convert_round_trip(boxes, fmt):
    np.testing.assert_allclose(detection.box_convert(detection.box_convert(boxes, "xyxy", fmt), fmt, "xyxy"),
                               boxes, atol=1e-12)
    with pytest.raises(ValueError, match="in_fmt"):
        detection.box_convert(boxes, "xy", "xyxy")


# --------------------------------------------------------------------------- NMS

@SETTINGS
@given(st.integers(0, 2**31 - 1), st.integers(0, 25), st.floats(0.05, 0.95))
def test_nms_matches_brute_force(seed, n, thr):
    rng = np.random.default_rng(seed)
    boxes = random_boxes(rng, n, 50.0, 30.0)
    scores = rng.random(n)
    np.testing.assert_array_equal(detection.nms(boxes, scores, thr), nms_brute(boxes, scores, thr))


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.integers(1, 30), st.floats(0.1, 0.9))
def test_batched_nms_leaves_no_overlapping_pair_within_a_class(seed, n, thr):
    rng = np.random.default_rng(seed)
    boxes, scores = random_boxes(rng, n, 50.0, 30.0), rng.random(n)
    classes = rng.integers(0, 3, size=n)
    keep = detection.batched_nms(boxes, scores, classes, thr)
    assert keep.dtype == np.int64 and np.all(np.diff(scores[keep]) <= 0)
    iou = detection.box_iou(boxes[keep], boxes[keep])
    same = classes[keep][:, None] == classes[keep][None, :]
    np.fill_diagonal(same, False)
    assert not np.any(iou[same] > thr)
    for c in np.unique(classes):  # per class it is plain NMS
        idx = np.flatnonzero(classes == c)
        np.testing.assert_array_equal(np.sort(keep[classes[keep] == c]),
                                      np.sort(idx[detection.nms(boxes[idx], scores[idx], thr)]))
    for i in np.setdiff1d(np.arange(n), keep):  # every removed box was suppressed by a better kept one
        rivals = keep[(classes[keep] == classes[i]) & (scores[keep] >= scores[i])]
        assert detection.box_iou(boxes[[i]], boxes[rivals]).max() > thr


def test_nms_ties_threshold_and_bad_input():
    boxes = np.array([[0.0, 0, 2, 2], [1, 0, 3, 2]])  # IoU exactly 1/3
    np.testing.assert_array_equal(detection.nms(boxes, np.array([0.5, 0.6]), 1 / 3), [1, 0])
    np.testing.assert_array_equal(detection.nms(boxes, np.array([0.5, 0.5]), 0.2), [0])  # tie: lower index
    assert detection.nms(np.zeros((0, 4)), np.zeros(0), 0.5).shape == (0,)
    with pytest.raises(ValueError, match=r"scores must have shape \(2,\)"):
        detection.nms(boxes, np.zeros(3), 0.5)


# --------------------------------------------------------------------------- anchors and box coding

def test_rpn_has_nine_anchors_per_location_with_the_right_areas_and_ratios():
    a = detection.rpn_anchors((1, 1), 16)
    assert a.shape == (9, 4)
    w, h = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
    np.testing.assert_allclose(w * h, np.tile([128.0, 256, 512], 3) ** 2)
    np.testing.assert_allclose(h / w, np.repeat([0.5, 1.0, 2.0], 3))
    np.testing.assert_allclose((a[:, :2] + a[:, 2:]) / 2, 8.0)
    tiled = detection.rpn_anchors((2, 3), 16)
    assert tiled.shape == (2 * 3 * 9, 4)
    np.testing.assert_allclose(tiled[9 * 4:9 * 5] - a, [[16.0, 16, 16, 16]] * 9)  # row 1, column 1
    with pytest.raises(ValueError):
        detection.rpn_anchors((0, 3), 16)


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.integers(0, 5), st.floats(0.3, 0.9))
def test_match_anchors_rules(seed, g, pos):
    rng = np.random.default_rng(seed)
    anchors = detection.rpn_anchors((5, 5), 8, sizes=(8, 16), ratios=(0.5, 1.0, 2.0))
    gt = random_boxes(rng, g, 40.0, 24.0)
    neg = pos / 2
    labels, matched = detection.match_anchors(anchors, gt, pos, neg)
    assert labels.dtype == matched.dtype == np.int64
    if g == 0:
        assert np.all(labels == 0) and np.all(matched == -1)
        return
    iou = detection.box_iou(anchors, gt)
    best = iou.max(axis=1)
    np.testing.assert_array_equal(matched, iou.argmax(axis=1))
    assert np.all(labels[best >= pos] == 1)
    for j in range(g):  # every object with any overlap has a positive anchor, its best one
        if iou[:, j].max() > 0:
            assert labels[iou[:, j].argmax()] == 1
    forced = (labels == 1) & (best < pos)
    gt_best = iou.max(axis=0)
    assert np.all(((iou[forced] == gt_best[None, :]) & (gt_best[None, :] > 0)).any(axis=1))  # best for some object
    rest = labels != 1
    np.testing.assert_array_equal(labels[rest], np.where(best[rest] < neg, 0, -1))


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.integers(1, 20))
def test_decode_inverts_encode(seed, n):
    rng = np.random.default_rng(seed)
    boxes, anchors = random_boxes(rng, n), random_boxes(rng, n)
    deltas = detection.encode_boxes(boxes, anchors)
    np.testing.assert_allclose(detection.decode_boxes(deltas, anchors), boxes, atol=1e-9)
    np.testing.assert_allclose(detection.encode_boxes(detection.decode_boxes(deltas, anchors), anchors), deltas,
                               atol=1e-9)


def test_encode_known_values_and_errors():
    a = np.array([[0.0, 0, 10, 10]])
    np.testing.assert_allclose(detection.encode_boxes(np.array([[5.0, 0, 15, 20]]), a),
                               [[0.5, 0.5, 0.0, math.log(2)]])
    with pytest.raises(ValueError, match="same shape"):
        detection.encode_boxes(np.zeros((2, 4)), a)
    with pytest.raises(ValueError, match="positive"):
        detection.encode_boxes(np.array([[0.0, 0, 0, 5]]), a)


# --------------------------------------------------------------------------- RoI pooling

def roi_pool_brute(x, rois, ph, pw, scale):
    """torchvision's CPU kernel transcribed literally (C's round, per-bin start/end, clipping)."""
    out = np.zeros((len(rois), x.shape[1], ph, pw))
    H, W = x.shape[2:]
    for k, (n, x1, y1, x2, y2) in enumerate(rois):
        sw, sh = (int(math.copysign(math.floor(abs(v * scale) + 0.5), v)) for v in (x1, y1))
        ew, eh = (int(math.copysign(math.floor(abs(v * scale) + 0.5), v)) for v in (x2, y2))
        rw, rh = max(ew - sw + 1, 1), max(eh - sh + 1, 1)
        bh, bw = rh / ph, rw / pw
        for i in range(ph):
            for j in range(pw):
                hs = min(max(math.floor(i * bh) + sh, 0), H)
                he = min(max(math.ceil((i + 1) * bh) + sh, 0), H)
                ws = min(max(math.floor(j * bw) + sw, 0), W)
                we = min(max(math.ceil((j + 1) * bw) + sw, 0), W)
                for c in range(x.shape[1]):
                    vals = [x[int(n), c, r, q] for r in range(hs, he) for q in range(ws, we)]
                    out[k, c, i, j] = max(vals) if vals else 0.0
    return out


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.integers(1, 3), st.integers(1, 3), st.sampled_from([0.25, 0.5, 1.0]))
def test_roi_pool_matches_the_kernel_transcription(seed, ph, pw, scale):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 2, 7, 9))
    k = 4
    xy = rng.uniform(-2, 20, size=(k, 2))
    rois = np.concatenate([rng.integers(0, 2, size=(k, 1)), xy, xy + rng.uniform(0, 15, size=(k, 2))], axis=1)
    np.testing.assert_array_equal(detection.roi_pool(x, rois, (ph, pw), scale), roi_pool_brute(x, rois, ph, pw, scale))


def test_roi_pool_known_values_and_errors():
    x = np.arange(64.0).reshape(1, 1, 8, 8)
    np.testing.assert_array_equal(detection.roi_pool(x, np.array([[0.0, 0, 0, 7, 7]]), 2)[0, 0], [[27, 31], [59, 63]])
    with pytest.raises(ValueError, match=r"\(K, 5\)"):
        detection.roi_pool(x, np.zeros((1, 4)), 2)
    with pytest.raises(ValueError, match="batch index"):
        detection.roi_pool(x, np.array([[1.0, 0, 0, 3, 3]]), 2)


# --------------------------------------------------------------------------- YOLO and SSD

def test_yolo_v1_decodes_98_boxes_and_places_a_box_in_its_cell():
    out = np.random.default_rng(0).random((7, 7, 30))
    boxes, scores = detection.yolo_decode(out, 448)
    assert boxes.shape == (98, 4) and scores.shape == (98, 20)
    single = np.zeros((2, 2, 7))
    single[1, 0] = [0.5, 0.5, 0.5, 0.25, 0.8, 0.25, 0.75]
    boxes, scores = detection.yolo_decode(single, 64, 1)
    np.testing.assert_allclose(boxes[2], [8.0, 46.0, 24.0, 50.0])  # cell (1, 0): centre (16, 48); √w, √h → 16×4
    np.testing.assert_allclose(scores[2], [0.2, 0.6])
    with pytest.raises(ValueError):
        detection.yolo_decode(np.zeros((7, 7, 10)), 448)


def test_ssd300_has_8732_default_boxes():
    four = detection.ssd_default_boxes((38, 3, 1), 300)  # ratios 1, 2, 1/2 + the extra square
    six = detection.ssd_default_boxes((19, 10, 5), 300, ratios=(1.0, 2.0, 0.5, 3.0, 1 / 3))
    assert sum(len(b) for b in four + six) == 8732


# --------------------------------------------------------------------------- metrics

def test_precision_recall_and_the_three_aps():
    p, r = detection_metrics.precision_recall(np.array([0.9, 0.8, 0.7, 0.6]), np.array([1, 0, 1, 1]), 5)
    np.testing.assert_allclose(p, [1, 0.5, 2 / 3, 0.75])
    np.testing.assert_allclose(r, [0.2, 0.2, 0.4, 0.6])
    assert detection_metrics.average_precision(r, p, "all") == pytest.approx(0.2 + 0.2 * 0.75 + 0.2 * 0.75)
    # VOC 11-point: t = 0, .1, .2 → 1; t = .3, .4, .5 → 0.75; the float t = 0.6000000000000001 (as in the
    # VOC devkit's np.arange(0, 1.1, 0.1)) is just above recall 3/5, so it and the rest give 0
    assert detection_metrics.average_precision(r, p, "voc11") == pytest.approx((3 * 1 + 3 * 0.75) / 11)
    # COCO: recall thresholds 0..0.2 → 1 (21 of them), 0.21..0.6 → 0.75 (40), the rest 0
    assert detection_metrics.average_precision(r, p, "coco101") == pytest.approx((21 + 40 * 0.75) / 101)
    assert detection_metrics.average_precision(np.zeros(0), np.zeros(0), "all") == 0.0
    with pytest.raises(ValueError, match="method"):
        detection_metrics.average_precision(r, p, "voc")


@settings(deadline=None, max_examples=15)
@given(st.integers(0, 2**31 - 1), st.integers(1, 5), st.integers(2, 4))
def test_coco_map_equals_pycocotools(seed, n_images, n_classes):
    coco, dets = random_coco(np.random.default_rng(seed), n_images, n_classes)
    if not dets or not coco["annotations"]:
        return
    ours = detection_eval.coco_map(coco, dets), detection_eval.coco_map(coco, dets, [0.5])
    np.testing.assert_allclose(ours, detection_eval.pycocotools_map(coco, dets), atol=1e-9)


def test_coco_map_on_the_shapes_data():
    images, coco = data.shapes_detection(30, seed=5)
    perfect = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
               for a in coco["annotations"]]
    assert detection_eval.coco_map(coco, perfect) == pytest.approx(1.0)
    assert detection_eval.pycocotools_map(coco, perfect) == pytest.approx((1.0, 1.0))
    assert detection_eval.coco_map(coco, []) == 0.0


def test_coco_map_one_box_by_hand():
    gt = {"images": [{"id": 1}], "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100,
                           "iscrowd": 0}]}
    det = {"image_id": 1, "category_id": 1, "bbox": [1.8, 0, 8.2, 10], "score": 0.9}  # IoU 0.82
    # a hit at the thresholds 0.50 … 0.80 (7 of 10), a miss at 0.85 … 0.95; category 2 has no ground truth
    assert detection_eval.coco_map(gt, [det]) == pytest.approx(0.7)
    assert detection_eval.coco_map(gt, [det], [0.5]) == pytest.approx(1.0)
    fp_first = [dict(det, score=0.5), {**det, "bbox": [30, 30, 5, 5], "score": 0.8}]
    # precision 1/2 at recall 1: every recall threshold reads the envelope 0.5
    assert detection_eval.coco_map(gt, fp_first, [0.5]) == pytest.approx(0.5)
    np.testing.assert_allclose([detection_eval.coco_map(gt, fp_first), detection_eval.coco_map(gt, fp_first, [0.5])],
                               detection_eval.pycocotools_map(gt, fp_first), atol=1e-12)


@SETTINGS
@given(boxes_strategy(degenerate=0.0))
def test_the_reference_box_convert_is_the_given_tool(boxes):
    assert detection.box_convert is detection_eval.box_convert
    np.testing.assert_allclose(detection_eval.box_convert(boxes, "xyxy", "xywh")[:, 2:], boxes[:, 2:] - boxes[:, :2])
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        detection_eval.box_convert(np.zeros((2, 3)), "xyxy", "xywh")


# --------------------------------------------------------------------------- data

def test_shapes_detection_is_seeded_and_its_boxes_fit_the_shapes():
    images, coco = data.shapes_detection(12, size=48, seed=3)
    images2, coco2 = data.shapes_detection(12, size=48, seed=3)
    np.testing.assert_array_equal(images, images2)
    assert coco == coco2 and images.shape == (12, 3, 48, 48) and images.dtype == np.float32
    assert [c["name"] for c in coco["categories"]] == list(data.SHAPE_CLASSES)
    assert {a["image_id"] for a in coco["annotations"]} <= {img["id"] for img in coco["images"]}
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        assert 0 <= x and 0 <= y and x + w <= 48 and y + h <= 48 and a["area"] == w * h
        img = images[a["image_id"] - 1]
        inside = img[:, int(y):int(y + h), int(x):int(x + w)].max(axis=0)
        assert inside.max() > 0.5  # the shape is bright, the background dark
    with pytest.raises(ValueError):
        data.shapes_detection(0)


# --------------------------------------------------------------------------- checks catch mistakes

def test_references_pass_their_checks():
    for name in ("box_iou", "nms", "average_precision", "roi_pool", "yolo_v1_loss"):
        ex = dataclasses.replace(EXERCISES[name], forbid=())
        assert run_exercise(ex, ex.reference, quiet=True) > 0


def test_nms_with_greater_or_equal_is_caught_with_a_clear_message():
    def nms_ge(boxes, scores, iou_threshold):
        order = np.argsort(-scores, kind="stable")
        keep, dead = [], np.zeros(len(boxes), dtype=bool)
        for i in order:
            if not dead[i]:
                keep.append(i)
                for j in range(len(boxes)):
                    a, b = boxes[i], boxes[j]
                    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
                    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
                    inter = iw * ih
                    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
                    dead[j] |= inter / u >= iou_threshold
        return np.array(keep, dtype=np.int64)

    with pytest.raises(CheckFailure, match="IoU exactly 1/3"):
        check("nms", nms_ge)


def test_iou_without_clipping_and_the_reference_itself_are_caught():
    def iou_no_clip(a, b):
        lt = np.maximum(a[:, None, :2], b[None, :, :2])
        rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
        inter = np.prod(rb - lt, axis=-1)
        area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
        return inter / (area(a)[:, None] + area(b)[None, :] - inter)

    with pytest.raises(CheckFailure, match="values are wrong"):
        check("box_iou", iou_no_clip)
    with pytest.raises(ForbiddenError):
        check("average_precision", detection_metrics.average_precision)
