"""Detection metrics: precision/recall, AP (all-point, VOC 11-point, COCO 101-point), matching.

COCO's mAP over images, categories and IoU thresholds is a given tool,
:func:`course_lib.detection_eval.coco_map` (checked against pycocotools in the tests).
"""

from __future__ import annotations

import numpy as np

from course_lib.reference.detection import box_iou

__all__ = ["average_precision", "match_detections", "precision_recall"]


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
