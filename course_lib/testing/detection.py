"""Exercise specifications for Chapter 10 (object detection)."""

from __future__ import annotations

from functools import partial

import numpy as np

from ._cases import randn
from .core import DEFAULT_FORBIDDEN, Case, Exercise, answers

detection = answers("detection")
detection_metrics = answers("detection_metrics")  # the answers, imported when first used

__all__ = ["EXERCISES", "random_boxes", "random_coco"]

_FORBID = (*DEFAULT_FORBIDDEN, "pycocotools")


def random_boxes(rng, n, span=40.0, max_side=20.0, degenerate=0.0):
    """(n, 4) float64 xyxy boxes inside [0, span]²; a fraction ``degenerate`` has zero width or height."""
    xy = rng.uniform(0, span - max_side, size=(n, 2))
    wh = rng.uniform(1, max_side, size=(n, 2))
    flat = rng.random(n) < degenerate
    wh[flat, rng.integers(0, 2, size=int(flat.sum()))] = 0.0
    return np.concatenate([xy, xy + wh], axis=1)


def random_coco(rng, n_images=3, n_classes=3, max_objects=4, span=60.0):
    """A small random COCO ground truth and noisy detections (matches, poor boxes, false positives).

    The tests use it to compare :func:`course_lib.detection_eval.coco_map` with pycocotools.
    """
    coco = {"images": [{"id": i + 1} for i in range(n_images)], "annotations": [],
            "categories": [{"id": c + 1, "name": f"class{c + 1}"} for c in range(n_classes)]}
    dets = []
    for i in range(1, n_images + 1):
        for box in random_boxes(rng, int(rng.integers(0, max_objects + 1)), span, 25.0):
            cat = int(rng.integers(1, n_classes))  # the last category never has ground truth
            x1, y1, x2, y2 = (float(v) for v in box)
            coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": i, "category_id": cat,
                                        "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                                        "iscrowd": 0})
            for _ in range(int(rng.integers(0, 3))):
                jitter = rng.normal(0, 0.12, size=4) * (x2 - x1 + y2 - y1) / 2
                bx = [x1 + jitter[0], y1 + jitter[1], max(x2 - x1 + jitter[2], 0.5), max(y2 - y1 + jitter[3], 0.5)]
                dets.append({"image_id": i, "category_id": cat, "bbox": [float(v) for v in bx],
                             "score": float(rng.random())})
        for box in random_boxes(rng, int(rng.integers(0, 3)), span, 25.0):
            x1, y1, x2, y2 = (float(v) for v in box)
            dets.append({"image_id": i, "category_id": int(rng.integers(1, n_classes + 1)),
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(rng.random())})
    return coco, dets


# --------------------------------------------------------------------------- box_iou

def _iou_visible():
    a = np.array([[0.0, 0, 2, 2]])
    rng = np.random.default_rng(10)
    return [
        Case((a, np.array([[1.0, 1, 3, 3]])), note="overlap 1 of union 7: IoU 1/7"),
        Case((a, np.array([[0.0, 0, 2, 2], [2.0, 0, 4, 2], [5.0, 5, 6, 6]])),
             note="identical, touching, disjoint: 1, 0, 0"),
        Case((a, np.array([[0.5, 0.5, 1.5, 1.5]])), note="one box inside the other"),
        Case((random_boxes(rng, 4), random_boxes(rng, 3)), note="4 × 3 random boxes"),
        Case((np.array([[1.0, 1, 1, 3], [0.0, 0, 0, 0]]), np.array([[0.0, 0, 0, 0], [0.0, 0, 2, 2]])),
             note="zero-area boxes: IoU 0, never NaN"),
        Case((np.zeros((0, 4)), random_boxes(rng, 2)), note="no boxes: shape (0, 2)"),
        Case((np.zeros((2, 3)), a), raises=ValueError, note="boxes must be (N, 4)"),
    ]


def _iou_hidden(rng):
    cases = [Case((random_boxes(rng, int(rng.integers(1, 8)), degenerate=0.2),
                   random_boxes(rng, int(rng.integers(1, 8)), degenerate=0.2))) for _ in range(12)]
    b = random_boxes(rng, 5)
    cases += [Case((b, b)), Case((b.astype(np.float32), b[:2].astype(np.float32))),
              Case((b, np.zeros((3, 5))), raises=ValueError)]
    return cases


# --------------------------------------------------------------------------- nms, batched_nms

def _clustered(rng, n, clusters=3):
    centres = random_boxes(rng, clusters, 60.0, 25.0)
    boxes = centres[rng.integers(0, clusters, size=n)] + rng.normal(0, 2.5, size=(n, 4))
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    return boxes


def _nms_visible():
    rng = np.random.default_rng(11)
    boxes = np.array([[0.0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]])
    return [
        Case((boxes, np.array([0.9, 0.8, 0.7, 0.95]), 0.5),
             note="box 3 (0.95) suppresses boxes 0 and 1; box 2 is far away"),
        Case((boxes, np.array([0.9, 0.8, 0.7, 0.95]), 0.95), note="threshold 0.95 keeps all, by score"),
        Case((_clustered(rng, 12), rng.random(12), 0.4), note="12 boxes in 3 clusters"),
        Case((np.array([[0.0, 0, 2, 2], [1, 0, 3, 2]]), np.array([0.5, 0.6]), 1 / 3),
             note="IoU exactly 1/3 = threshold: keep both (suppress only if IoU > threshold)"),
        Case((np.zeros((0, 4)), np.zeros(0), 0.5), note="no boxes: empty int64 array"),
    ]


def _nms_hidden(rng):
    cases = []
    for _ in range(12):
        n = int(rng.integers(1, 25))
        cases.append(Case((_clustered(rng, n, int(rng.integers(1, 5))), rng.random(n), float(rng.uniform(0.1, 0.9)))))
    return cases


def _batched_visible():
    rng = np.random.default_rng(12)
    boxes = np.array([[0.0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 9]])
    return [
        Case((boxes, np.array([0.9, 0.8, 0.95]), np.array([0, 1, 0]), 0.5),
             note="box 1 is another class: it survives"),
        Case((_clustered(rng, 15), rng.random(15), rng.integers(0, 3, size=15), 0.4), note="15 boxes, 3 classes"),
        Case((boxes, np.array([0.9, 0.8, 0.95]), np.array([2, 2, 2]), 0.5), note="one class: same as nms"),
    ]


def _batched_hidden(rng):
    cases = []
    for _ in range(12):
        n = int(rng.integers(1, 30))
        cases.append(Case((_clustered(rng, n, int(rng.integers(1, 5))), rng.random(n),
                           rng.integers(0, int(rng.integers(1, 5)), size=n), float(rng.uniform(0.1, 0.9)))))
    return cases


# --------------------------------------------------------------------------- anchors

def _anchors_visible():
    return [
        Case(((1, 1), 16), note="one location: the 9 anchors of Faster R-CNN"),
        Case(((2, 3), 16), {"sizes": (32,), "ratios": (1.0,)}, note="one square anchor per cell"),
        Case(((2, 2), 8), {"sizes": (8, 16), "ratios": (0.5, 2.0)}, note="2 ratios × 2 sizes, ratio-major"),
    ]


def _anchors_hidden(rng):
    cases = []
    for _ in range(8):
        sizes = tuple(float(v) for v in rng.choice([16, 32, 64, 128], size=int(rng.integers(1, 4)), replace=False))
        ratios = tuple(float(v) for v in rng.choice([0.5, 1.0, 2.0, 3.0], size=int(rng.integers(1, 4)), replace=False))
        cases.append(Case(((int(rng.integers(1, 5)), int(rng.integers(1, 5))), int(rng.choice([4, 8, 16]))),
                          {"sizes": sizes, "ratios": ratios}))
    return cases


def _match_visible():
    anchors = detection.rpn_anchors((4, 4), 8, sizes=(8, 16), ratios=(1.0,))
    gt = np.array([[0.0, 0, 16, 16], [16, 16, 24, 24]])
    return [
        Case((anchors, gt), note="thresholds 0.7 / 0.3"),
        Case((anchors, gt), {"pos_threshold": 0.5, "neg_threshold": 0.4}, note="thresholds 0.5 / 0.4"),
        Case((anchors, np.array([[3.0, 3, 7, 6]])), note="small box: its best anchor is positive although IoU < 0.7"),
        Case((anchors, np.zeros((0, 4))), note="no ground truth: all background, matched −1"),
    ]


def _match_hidden(rng):
    cases = []
    for _ in range(12):
        anchors = detection.rpn_anchors((int(rng.integers(2, 6)),) * 2, 8, sizes=(8, 16), ratios=(0.5, 1.0, 2.0))
        gt = random_boxes(rng, int(rng.integers(0, 5)), 40.0, 24.0)
        pos = float(rng.uniform(0.5, 0.8))
        cases.append(Case((anchors, gt), {"pos_threshold": pos, "neg_threshold": float(rng.uniform(0.1, pos))}))
    return cases


# --------------------------------------------------------------------------- encode / decode

def _encode_visible():
    rng = np.random.default_rng(13)
    a = np.array([[0.0, 0, 10, 10]])
    return [
        Case((a, a), note="a box encodes to 0 against itself"),
        Case((np.array([[5.0, 0, 15, 20]]), a), note="shifted right by half a width, twice as tall"),
        Case((random_boxes(rng, 5), random_boxes(rng, 5)), note="5 random pairs"),
        Case((random_boxes(rng, 2), random_boxes(rng, 3)), raises=ValueError, note="2 boxes but 3 anchors"),
    ]


def _encode_hidden(rng):
    cases = [Case((random_boxes(rng, n), random_boxes(rng, n))) for n in rng.integers(1, 10, size=10)]
    return cases + [Case((random_boxes(rng, 2), random_boxes(rng, 1)), raises=ValueError)]


def _decode_visible():
    rng = np.random.default_rng(14)
    a = np.array([[0.0, 0, 10, 10]])
    return [
        Case((np.zeros((1, 4)), a), note="zero deltas give the anchor back"),
        Case((np.array([[0.5, 0.0, 0.0, np.log(2.0)]]), a), note="shift right by half a width, twice as tall"),
        Case((0.3 * randn(rng, 5, 4), random_boxes(rng, 5)), note="5 random pairs"),
    ]


def _decode_hidden(rng):
    return [Case((0.5 * randn(rng, n, 4), random_boxes(rng, n))) for n in rng.integers(1, 10, size=10)]


# --------------------------------------------------------------------------- roi_pool

def _roi_visible():
    x = np.arange(64.0).reshape(1, 1, 8, 8)
    rng = np.random.default_rng(15)
    return [
        Case((x, np.array([[0.0, 0, 0, 7, 7]]), 2), note="whole 8×8 map into 2×2: the max of each quarter"),
        Case((x, np.array([[0.0, 1, 2, 4, 6]]), (2, 2)), note="a 4-wide, 5-tall RoI: bins overlap by a row"),
        Case((randn(rng, 2, 3, 8, 8), np.array([[1.0, 0, 0, 15, 15], [0, 4, 4, 10, 14]]), 3),
             {"spatial_scale": 0.5}, note="spatial_scale 0.5, batch index 1"),
        Case((x, np.array([[0.0, 6, 6, 12, 12]]), 2), note="RoI partly outside the map: empty bins are 0"),
    ]


def _roi_hidden(rng):
    cases = []
    for _ in range(8):
        n, c, h, w = 2, int(rng.integers(1, 4)), int(rng.integers(4, 12)), int(rng.integers(4, 12))
        k = int(rng.integers(1, 5))
        xy = rng.uniform(0, 2 * max(h, w), size=(k, 2))
        wh = rng.uniform(0, 2 * max(h, w), size=(k, 2))
        rois = np.concatenate([rng.integers(0, n, size=(k, 1)), xy, xy + wh], axis=1)
        out = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        cases.append(Case((randn(rng, n, c, h, w), rois, out), {"spatial_scale": float(rng.choice([0.25, 0.5, 1.0]))}))
    return cases


# --------------------------------------------------------------------------- metrics

def _pr_case(rng, d, num_gt):
    is_tp = rng.random(d) < 0.6
    is_tp[np.cumsum(is_tp) > num_gt] = False
    precision, recall = detection_metrics.precision_recall(rng.random(d), is_tp, num_gt)
    return recall, precision


def _ap_visible():
    rng = np.random.default_rng(16)
    r, p = np.array([0.2, 0.4, 0.4, 0.6]), np.array([1.0, 1.0, 0.667, 0.75])
    return [
        Case((r, p, "all"), note="all-point: 0.2·1 + 0.2·1 + 0.2·0.75"),
        Case((r, p, "voc11"), note="VOC 11-point"),
        Case((r, p, "coco101"), note="COCO 101-point"),
        Case((*_pr_case(rng, 12, 8), "all"), note="12 detections, 8 objects"),
        Case((*_pr_case(rng, 12, 8), "coco101"), note="12 detections, 8 objects, 101-point"),
        Case((r, p, "voc"), raises=ValueError, note="unknown method"),
    ]


def _ap_hidden(rng):
    cases = [Case((*_pr_case(rng, int(rng.integers(1, 30)), int(rng.integers(1, 20))), str(m)))
             for m in rng.choice(["all", "voc11", "coco101"], size=15)]
    return cases + [Case((np.zeros(0), np.zeros(0), "all")), Case((np.ones(3), np.ones(3), "coco101"))]


# --------------------------------------------------------------------------- yolo_decode

def _yolo_visible():
    rng = np.random.default_rng(19)
    out = np.zeros((2, 2, 5 + 2))
    out[1, 0] = [0.5, 0.5, 0.5, 0.25, 0.8, 0.25, 0.75]
    return [
        Case((out, 64, 1), note="S = 2, B = 1, C = 2: one box in cell (row 1, col 0), centre (16, 48); √w = 0.5, "
                                "√h = 0.25 → w = 0.25·64 = 16, h = 0.0625·64 = 4 pixels"),
        Case((rng.random((7, 7, 30)), 448), note="YOLO v1 on VOC: 7×7×30 → 98 boxes, 20 classes"),
        Case((rng.random((3, 3, 3 * 5 + 4)), 96, 3), note="S = 3, B = 3, C = 4"),
        Case((rng.random((7, 7, 10)), 448), raises=ValueError, note="5·B = 10 leaves no class probabilities"),
    ]


def _yolo_hidden(rng):
    cases = []
    for _ in range(8):
        s, b, c = int(rng.integers(1, 8)), int(rng.integers(1, 4)), int(rng.integers(1, 6))
        cases.append(Case((rng.random((s, s, 5 * b + c)), float(rng.choice([64, 224, 448])), b)))
    return cases


# --------------------------------------------------------------------------- yolo_v1_loss

def _yolo_target(rng, N, S, C, p_obj=0.4):
    """(N, S, S, 5 + C) targets: [x, y, w, h, obj, one-hot class], zero in cells without an object."""
    t = np.zeros((N, S, S, 5 + C))
    obj = rng.random((N, S, S)) < p_obj
    t[..., :2] = rng.random((N, S, S, 2))
    t[..., 2:4] = rng.uniform(0.05, 0.9, size=(N, S, S, 2))
    t[..., 4] = obj
    t[..., 5:] = np.eye(C)[rng.integers(0, C, size=(N, S, S))]
    t[~obj] = 0.0
    return t


def _yolo_loss_visible():
    rng = np.random.default_rng(20)
    target = np.array([[[[0.5, 0.5, 0.25, 0.25, 1.0, 1.0]]]])
    pred = np.array([[[[0.5, 0.5, 0.5, 0.5, 0.8, 0.5, 0.5, 0.3, 0.3, 0.6, 0.7]]]])
    shifted = pred.copy()
    shifted[..., 0] = 0.6
    swapped = pred[..., [5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 10]]
    return [
        Case((pred, target), note="S = 1, B = 2, C = 1: box 0 fits the object (IoU 1) and is responsible: "
                                  "(0.8 − 1)² + 0.5·0.6² + (0.7 − 1)² = 0.31"),
        Case((shifted, target), note="box 0 shifted by 0.1: 5·0.1² + (0.8 − IoU 3/7)² + 0.18 + 0.09"),
        Case((swapped, target), note="the same boxes in the other order: box 1 is responsible now"),
        Case((pred, np.zeros_like(target)), note="no object: only 0.5·conf² for both boxes"),
        Case((pred, target, 2, 1.0, 1.0), note="λ_coord = λ_noobj = 1"),
        Case((rng.random((2, 7, 7, 30)), _yolo_target(rng, 2, 7, 20)), note="YOLO v1 on VOC: 2 images, 7×7×30"),
        Case((rng.random((1, 3, 3, 3 * 5 + 2)), _yolo_target(rng, 1, 3, 2), 3), note="S = 3, B = 3, C = 2"),
        Case((np.zeros((1, 7, 7, 30)), np.zeros((1, 7, 7, 30))), raises=ValueError,
             note="target must be (N, S, S, 5 + C)"),
    ]


def _yolo_loss_hidden(rng):
    cases = []
    for _ in range(10):
        n, s, b, c = int(rng.integers(1, 4)), int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(1, 5))
        cases.append(Case((rng.random((n, s, s, 5 * b + c)), _yolo_target(rng, n, s, c, float(rng.uniform(0.2, 0.8))),
                           b, float(rng.choice([5.0, 1.0, 2.0])), float(rng.choice([0.5, 0.1, 1.0])))))
    return cases


_exercise = partial(Exercise, forbid=_FORBID)

EXERCISES = {ex.name: ex for ex in [
    _exercise("box_iou", detection.box_iou, _iou_visible, _iou_hidden, hint="IoU of N × M boxes is (N, M)."),
    _exercise("nms", detection.nms, _nms_visible, _nms_hidden,
              hint="Return the kept indices (int64), highest score first."),
    _exercise("batched_nms", detection.batched_nms, _batched_visible, _batched_hidden,
              hint="Return the kept indices of all classes together, highest score first."),
    _exercise("rpn_anchors", detection.rpn_anchors, _anchors_visible, _anchors_hidden,
              hint="H·W·K anchors: row by row, column by column, then the K anchors of a cell."),
    _exercise("match_anchors", detection.match_anchors, _match_visible, _match_hidden,
              output_names=("labels", "matched")),
    _exercise("encode_boxes", detection.encode_boxes, _encode_visible, _encode_hidden),
    _exercise("decode_boxes", detection.decode_boxes, _decode_visible, _decode_hidden),
    _exercise("roi_pool", detection.roi_pool, _roi_visible, _roi_hidden, hint="Output (K, C, PH, PW)."),
    _exercise("average_precision", detection_metrics.average_precision, _ap_visible, _ap_hidden),
    _exercise("yolo_decode", detection.yolo_decode, _yolo_visible, _yolo_hidden,
              output_names=("boxes", "scores"),
              hint="boxes (S·S·B, 4), scores (S·S·B, C). YOLO v1 predicts √w and √h: square them."),
    _exercise("yolo_v1_loss", detection.yolo_v1_loss, _yolo_loss_visible, _yolo_loss_hidden, rtol=1e-9, atol=1e-12,
              hint="A float: the sum of eq. (3)'s five terms divided by N. Responsible = highest IoU (first on ties); "
                   "its confidence target is that IoU."),
]}
