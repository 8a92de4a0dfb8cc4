"""Chapter 10's given tools: box formats and COCO's box mAP.

:func:`coco_map` is given to the students (their exercise is the AP computation itself,
``average_precision``); it follows ``pycocotools.cocoeval.COCOeval`` (bbox, area "all",
``maxDets=100``) so closely that both agree to floating-point precision — the tests check it against
:func:`pycocotools_map`, which runs pycocotools itself.

COCO format: ``{"images": [{"id": ...}], "annotations": [{"id", "image_id", "category_id",
"bbox": [x, y, w, h], "area", "iscrowd": 0}], "categories": [{"id", "name"}]}``; detections are a
list of ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``.

A tool module: it does not import the answers (``course_lib.reference``).
"""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np

__all__ = ["COCO_IOU_THRESHOLDS", "box_convert", "coco_map", "gt_of", "pycocotools_map"]

#: IoU thresholds 0.50, 0.55, …, 0.95 of COCO's mAP@[.5:.95].
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)

_FORMATS = ("xyxy", "xywh", "cxcywh")


def box_convert(boxes, in_fmt, out_fmt):
    """Convert boxes between "xyxy", "xywh" (COCO) and "cxcywh", like ``torchvision.ops.box_convert``.

    Args:
        boxes: (N, 4) array-like (a flat list of 4·N numbers is reshaped).
        in_fmt, out_fmt: one of "xyxy" (corners), "xywh" (top-left, size), "cxcywh" (centre, size).

    Returns:
        float64 array (N, 4) in ``out_fmt`` (a new array, never a view of the input).
    """
    for name, fmt in (("in_fmt", in_fmt), ("out_fmt", out_fmt)):
        if fmt not in _FORMATS:
            raise ValueError(f"{name} must be one of {_FORMATS}, got {fmt!r}")
    b = np.asarray(boxes, dtype=np.float64)
    if b.size % 4 or (b.ndim == 2 and b.shape[1] != 4) or b.ndim > 2:
        raise ValueError(f"boxes must have shape (N, 4), got shape {b.shape}")
    b = b.reshape(-1, 4)
    if in_fmt == "xywh":
        b = np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)
    elif in_fmt == "cxcywh":
        b = np.concatenate([b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2], axis=1)
    if out_fmt == "xywh":
        return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)
    if out_fmt == "cxcywh":
        return np.concatenate([(b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]], axis=1)
    return b.copy()


def gt_of(coco, image_index):
    """(boxes (G, 4) xyxy, labels (G,) 0-based) of the ``image_index``-th image of a COCO dict."""
    image_id = coco["images"][image_index]["id"]
    anns = [a for a in coco["annotations"] if a["image_id"] == image_id]
    return (box_convert([a["bbox"] for a in anns], "xywh", "xyxy"),
            np.array([a["category_id"] - 1 for a in anns], dtype=np.int64))


def _iou(a, b):
    """(D, 4) × (G, 4) xyxy → (D, G) IoU (0 where the union is empty)."""
    wh = np.clip(np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2]), 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area = lambda z: np.clip(z[:, 2] - z[:, 0], 0, None) * np.clip(z[:, 3] - z[:, 1], 0, None)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _match(det_boxes, gt_boxes, iou_threshold):
    """True/false positive of each detection (already sorted by score) of one image and category.

    Each detection takes the not yet matched ground truth with the highest IoU ≥ the threshold (the
    last one on equal IoU, as pycocotools); otherwise it is a false positive.
    """
    is_tp = np.zeros(len(det_boxes), dtype=bool)
    if len(det_boxes) == 0 or len(gt_boxes) == 0:
        return is_tp
    iou = _iou(det_boxes, gt_boxes)
    taken = np.zeros(len(gt_boxes), dtype=bool)
    for i in range(len(det_boxes)):
        best, m = min(iou_threshold, 1 - 1e-10), -1  # pycocotools' threshold cap
        for j in range(len(gt_boxes)):
            if not taken[j] and iou[i, j] >= best:
                best, m = iou[i, j], j
        if m >= 0:
            taken[m] = is_tp[i] = True
    return is_tp


def _ap_coco101(scores, is_tp, num_gt):
    """COCO's 101-point AP of one category: precision envelope read at recall 0, 0.01, …, 1."""
    tp = np.cumsum(is_tp[np.argsort(-scores, kind="mergesort")])
    precision, recall = tp / np.arange(1, len(tp) + 1), tp / num_gt
    envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
    idx = np.searchsorted(recall, np.linspace(0.0, 1.0, 101), side="left")  # first point with recall ≥ r
    return float(np.mean([envelope[i] if i < len(recall) else 0.0 for i in idx]))


def coco_map(coco_gt, detections, iou_thresholds=None, max_dets=100):
    """COCO box mean average precision, the number pycocotools prints first (``stats[0]``).

    For every IoU threshold t and every category with at least one ground-truth box:

    1. in each image (ids in sorted order) keep the category's ``max_dets`` highest-scoring
       detections and visit them by decreasing score; each takes the not yet matched ground truth
       of that image and category with the highest IoU ≥ t (the last one on equal IoU), else it is
       a false positive;
    2. pool all images' detections, sort them by score (stable) and compute COCO's 101-point AP
       (the precision envelope at recall 0, 0.01, …, 1, 0 beyond the highest recall).

    The result is the mean over all (t, category) pairs. ``iou_thresholds=[0.5]`` gives mAP@0.5,
    pycocotools' ``stats[1]`` and PASCAL VOC's threshold (with COCO's 101-point AP).

    Args:
        coco_gt: COCO-format dict (images, annotations, categories).
        detections: list of dicts with image_id, category_id, bbox [x, y, w, h], score.
        iou_thresholds: sequence of IoU thresholds; None means :data:`COCO_IOU_THRESHOLDS`.
        max_dets: detections kept per image and category.

    Returns:
        float mAP, or ``nan`` if no category has ground truth.
    """
    thresholds = COCO_IOU_THRESHOLDS if iou_thresholds is None else np.asarray(iou_thresholds, dtype=np.float64)
    gts, dts = {}, {}
    for a in coco_gt["annotations"]:
        gts.setdefault((a["image_id"], a["category_id"]), []).append(a)
    for d in detections:
        dts.setdefault((d["image_id"], d["category_id"]), []).append(d)
    image_ids = sorted(img["id"] for img in coco_gt["images"])
    aps = []
    for t in thresholds:
        for cat in sorted(c["id"] for c in coco_gt["categories"]):
            num_gt = sum(len(gts.get((i, cat), [])) for i in image_ids)
            if num_gt == 0:
                continue
            scores, tps = [], []
            for i in image_ids:
                dt = dts.get((i, cat), [])
                dt = [dt[k] for k in np.argsort([-d["score"] for d in dt], kind="mergesort")[:max_dets]]
                boxes = box_convert(np.array([d["bbox"] for d in dt], dtype=np.float64).reshape(-1, 4), "xywh", "xyxy")
                gt = box_convert(np.array([a["bbox"] for a in gts.get((i, cat), [])], dtype=np.float64).reshape(-1, 4),
                                 "xywh", "xyxy")
                scores.append(np.array([d["score"] for d in dt], dtype=np.float64))
                tps.append(_match(boxes, gt, t))
            aps.append(_ap_coco101(np.concatenate(scores), np.concatenate(tps), num_gt))
    return float(np.mean(aps)) if aps else float("nan")


def pycocotools_map(coco_gt, detections):
    """(mAP@[.5:.95], mAP@0.5) computed by pycocotools itself (its printout is swallowed)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not detections:
        return 0.0, 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(coco_gt)
        gt.createIndex()
        dt = gt.loadRes(copy.deepcopy(list(detections)))
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0]), float(ev.stats[1])
