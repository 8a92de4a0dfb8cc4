"""Detection metrics: precision/recall, AP (all-point, VOC 11-point, COCO 101-point), COCO mAP.

:func:`coco_map` follows ``pycocotools.cocoeval.COCOeval`` (bbox, area "all", ``maxDets=100``)
exactly, so both agree to floating-point precision; :func:`pycocotools_map` runs pycocotools itself.

COCO format: ``{"images": [{"id": ...}], "annotations": [{"id", "image_id", "category_id",
"bbox": [x, y, w, h], "area", "iscrowd": 0}], "categories": [{"id", "name"}]}``; detections are a
list of ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``.
"""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np

from course_lib.reference.detection import box_convert, box_iou

__all__ = [
    "COCO_IOU_THRESHOLDS",
    "average_precision",
    "coco_map",
    "match_detections",
    "precision_recall",
    "pycocotools_map",
]

#: IoU thresholds 0.50, 0.55, …, 0.95 of COCO's mAP@[.5:.95].
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)


def precision_recall(scores, is_tp, num_gt):
    """Precision and recall after each detection, taking detections by decreasing score.

    Args:
        scores: (D,) confidence of each detection.
        is_tp: (D,) bool, whether the detection matched a ground truth (true positive).
        num_gt: number of ground-truth objects (M).

    Returns:
        (precision, recall): float64 arrays (D,); after k detections precision = TP/k and
        recall = TP/M. Ties keep the input order (stable sort).
    """
    scores, is_tp = np.asarray(scores, dtype=np.float64), np.asarray(is_tp, dtype=bool)
    if scores.shape != is_tp.shape or scores.ndim != 1:
        raise ValueError(f"scores and is_tp must have the same shape (D,), got {scores.shape}, {is_tp.shape}")
    if num_gt < 0:
        raise ValueError(f"num_gt must be ≥ 0, got {num_gt}")
    tp = np.cumsum(is_tp[np.argsort(-scores, kind="stable")]).astype(np.float64)
    k = np.arange(1, len(scores) + 1)
    recall = tp / num_gt if num_gt > 0 else np.zeros_like(tp)
    return tp / k, recall


def average_precision(recall, precision, method="all"):
    """Area under the precision-recall curve.

    Every method first makes precision monotone: p(r) = max precision at any recall ≥ r.
    ``"all"`` (VOC 2010+) integrates that step curve exactly; ``"voc11"`` (VOC 2007) averages it
    at recall 0, 0.1, …, 1; ``"coco101"`` (pycocotools) averages it at recall 0, 0.01, …, 1, taking
    at each threshold the first point whose recall is ≥ it (0 where recall never gets there).

    Args:
        recall: (D,) non-decreasing recalls, as from :func:`precision_recall`.
        precision: (D,) precisions.
        method: "all", "voc11" or "coco101".

    Returns:
        float AP in [0, 1].
    """
    r, p = np.asarray(recall, dtype=np.float64), np.asarray(precision, dtype=np.float64)
    if r.shape != p.shape or r.ndim != 1:
        raise ValueError(f"recall and precision must have the same shape (D,), got {r.shape}, {p.shape}")
    if method == "all":
        mrec = np.concatenate([[0.0], r, [1.0]])
        mpre = np.maximum.accumulate(np.concatenate([[0.0], p, [0.0]])[::-1])[::-1]
        i = np.flatnonzero(mrec[1:] != mrec[:-1])
        return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))
    if method in ("voc11", "coco101"):
        env = np.maximum.accumulate(p[::-1])[::-1] if len(p) else p
        if method == "voc11":
            return float(np.mean([env[r >= t].max() if (r >= t).any() else 0.0 for t in np.linspace(0, 1, 11)]))
        idx = np.searchsorted(r, np.linspace(0.0, 1.0, 101), side="left")  # first point with recall ≥ t
        return float(np.mean([env[i] if i < len(r) else 0.0 for i in idx]))
    raise ValueError(f'method must be "all", "voc11" or "coco101", got {method!r}')


def match_detections(det_boxes, det_scores, gt_boxes, iou_threshold=0.5):
    """Mark each detection of one image and one class as true or false positive (COCO's rule).

    Detections are visited by decreasing score; each takes the not yet matched ground truth with
    the highest IoU ≥ ``iou_threshold`` (the last one on ties, as pycocotools), else it is a false
    positive.

    Args:
        det_boxes: (D, 4) xyxy; det_scores: (D,); gt_boxes: (G, 4) xyxy.

    Returns:
        bool array (D,) in the input order.
    """
    d, g = np.asarray(det_boxes, dtype=np.float64).reshape(-1, 4), np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    is_tp = np.zeros(len(d), dtype=bool)
    if len(d) == 0 or len(g) == 0:
        return is_tp
    iou = box_iou(d, g)
    taken = np.zeros(len(g), dtype=bool)
    thr = min(iou_threshold, 1 - 1e-10)
    for i in np.argsort(-np.asarray(det_scores, dtype=np.float64), kind="stable"):
        best, m = thr, -1
        for j in range(len(g)):
            if not taken[j] and iou[i, j] >= best:
                best, m = iou[i, j], j
        if m >= 0:
            taken[m], is_tp[i] = True, True
    return is_tp


def _group(items, key):
    out = {}
    for it in items:
        out.setdefault(key(it), []).append(it)
    return out


def coco_map(coco_gt, detections, iou_thresholds=None, max_dets=100):
    """COCO mean average precision (bbox), the same number as pycocotools' ``stats[0]``.

    For each IoU threshold and each category that has ground truth: keep the ``max_dets`` best
    detections per image, match them with :func:`match_detections`, pool all images, compute
    precision/recall and the 101-point AP. mAP is the mean over thresholds and categories.
    ``iou_thresholds=[0.5]`` gives mAP@0.5 (pycocotools' ``stats[1]``).

    Args:
        coco_gt: COCO-format dict (images, annotations, categories).
        detections: list of dicts with image_id, category_id, bbox [x, y, w, h], score.
        iou_thresholds: sequence of IoU thresholds; None means :data:`COCO_IOU_THRESHOLDS`.
        max_dets: detections kept per image and category.

    Returns:
        float mAP, or ``nan`` if no category has ground truth.
    """
    if iou_thresholds is None:
        iou_thresholds = COCO_IOU_THRESHOLDS
    gts = _group(coco_gt["annotations"], lambda a: (a["image_id"], a["category_id"]))
    dts = _group(detections, lambda d: (d["image_id"], d["category_id"]))
    image_ids = sorted(img["id"] for img in coco_gt["images"])
    aps = []
    for t in iou_thresholds:
        for cat in sorted(c["id"] for c in coco_gt["categories"]):
            num_gt = sum(len(gts.get((i, cat), [])) for i in image_ids)
            if num_gt == 0:
                continue
            scores, tps = [], []
            for i in image_ids:
                dt = dts.get((i, cat), [])
                order = np.argsort([-d["score"] for d in dt], kind="mergesort")[:max_dets]
                dt = [dt[k] for k in order]
                boxes = box_convert(np.array([d["bbox"] for d in dt], dtype=np.float64).reshape(-1, 4), "xywh", "xyxy")
                gt = box_convert(np.array([a["bbox"] for a in gts.get((i, cat), [])], dtype=np.float64).reshape(-1, 4),
                                 "xywh", "xyxy")
                s = np.array([d["score"] for d in dt], dtype=np.float64)
                scores.append(s)
                tps.append(match_detections(boxes, s, gt, t))
            precision, recall = precision_recall(np.concatenate(scores), np.concatenate(tps), num_gt)
            aps.append(average_precision(recall, precision, "coco101"))
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
