"""Object detection from first principles: boxes, IoU, NMS, anchors, box coding, RoI pooling, YOLO.

Follows ``torchvision.ops`` where it has the function (``box_iou``, ``box_convert``, ``nms``,
``batched_nms``, ``roi_pool``). Metrics (precision/recall, AP) are in
:mod:`course_lib.reference.detection_metrics`; ``box_convert`` and the COCO mAP are given tools in
:mod:`course_lib.detection_eval`.

Shape glossary: N, M boxes; A anchors; K anchors per location or RoIs; H/W feature map;
S YOLO grid; B boxes per cell; C classes. Boxes are ``(x1, y1, x2, y2)`` in pixels unless
said otherwise.
"""

from __future__ import annotations

import numpy as np

from course_lib.detection_eval import box_convert  # the one definition, a given tool
from course_lib.reference._utils import as_float, check_nchw

__all__ = [
    "batched_nms",
    "box_area",
    "box_convert",
    "box_iou",
    "decode_boxes",
    "encode_boxes",
    "match_anchors",
    "nms",
    "roi_pool",
    "rpn_anchors",
    "ssd_default_boxes",
    "yolo_decode",
    "yolo_v1_loss",
]


def _boxes(boxes, name):
    arr = as_float(boxes, name)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got shape {arr.shape}")
    return arr


def box_area(boxes):
    """Areas ``(x2 − x1)·(y2 − y1)`` of boxes (N, 4) → (N,); degenerate boxes have area 0."""
    b = _boxes(boxes, "boxes")
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def box_iou(boxes1, boxes2):
    """Pairwise intersection over union, like ``torchvision.ops.box_iou``.

    IoU = area(A ∩ B) / area(A ∪ B). Where the union is empty (two zero-area boxes) the IoU is
    defined as 0 (torchvision returns NaN there).

    Args:
        boxes1: (N, 4) boxes (x1, y1, x2, y2).
        boxes2: (M, 4) boxes.

    Returns:
        Array (N, M) in [0, 1], dtype of the inputs (float64 for ints).
    """
    a, b = _boxes(boxes1, "boxes1"), _boxes(boxes2, "boxes2")
    dtype = np.result_type(a, b)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2) top-left of the intersection
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])  # (N, M, 2) bottom-right
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]  # (N, M)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    return iou.astype(dtype)


def _scores(scores, n, name="scores"):
    s = as_float(scores, name)
    if s.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the boxes, got shape {s.shape}")
    return s


def nms(boxes, scores, iou_threshold):
    """Greedy non-maximum suppression, same as ``torchvision.ops.nms``.

    Visit the boxes from the highest score down; keep a box unless it overlaps an already kept box
    with IoU > ``iou_threshold``. Equal scores keep their input order (stable sort).

    Args:
        boxes: (N, 4).
        scores: (N,).
        iou_threshold: discard boxes whose IoU with a kept box is greater than this.

    Returns:
        int64 array of kept indices, sorted by decreasing score.
    """
    b = _boxes(boxes, "boxes")
    s = _scores(scores, len(b))
    order = np.argsort(-s, kind="stable")
    iou = box_iou(b, b)
    suppressed = np.zeros(len(b), dtype=bool)
    keep = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > iou_threshold
    return np.array(keep, dtype=np.int64)


def batched_nms(boxes, scores, idxs, iou_threshold):
    """NMS separately for each category, like ``torchvision.ops.batched_nms``.

    Boxes of different categories (``idxs``) never suppress each other.

    Returns:
        int64 array of kept indices over all categories, sorted by decreasing score.
    """
    b = _boxes(boxes, "boxes")
    s = _scores(scores, len(b))
    idxs = np.asarray(idxs)
    if idxs.shape != (len(b),):
        raise ValueError(f"idxs must have shape ({len(b)},), got shape {idxs.shape}")
    keep = [np.flatnonzero(idxs == c)[nms(b[idxs == c], s[idxs == c], iou_threshold)] for c in np.unique(idxs)]
    keep = np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)
    keep = np.sort(keep)  # input order, so that the stable sort below breaks ties by index
    return keep[np.argsort(-s[keep], kind="stable")].astype(np.int64)


def rpn_anchors(feature_size, stride, sizes=(128, 256, 512), ratios=(0.5, 1.0, 2.0)):
    """The anchors of Faster R-CNN's region proposal network, tiled over a feature map.

    At every feature-map cell (i, j) the anchors are centred at ``((j + 0.5)·stride, (i + 0.5)·stride)``
    in image pixels. For a size s and a ratio r = h / w, the anchor has area s² and
    ``w = s / √r``, ``h = s·√r``. 3 sizes × 3 ratios = the paper's K = 9 anchors per location.

    Args:
        feature_size: (H, W) of the feature map.
        stride: pixels of the image per feature-map cell.
        sizes: anchor sizes s (square root of the area), in pixels.
        ratios: aspect ratios h / w.

    Returns:
        (H·W·K, 4) boxes (x1, y1, x2, y2), ordered row by row, then column, then ratio-major
        (for each ratio all sizes), K = len(ratios)·len(sizes).
    """
    H, W = (int(v) for v in feature_size)
    if H < 1 or W < 1 or stride <= 0:
        raise ValueError(f"feature_size must be ≥ 1 and stride > 0, got {feature_size}, {stride}")
    sizes, ratios = np.asarray(sizes, dtype=np.float64), np.asarray(ratios, dtype=np.float64)
    if (sizes <= 0).any() or (ratios <= 0).any():
        raise ValueError(f"sizes and ratios must be positive, got {sizes}, {ratios}")
    ws = (sizes[None, :] / np.sqrt(ratios[:, None])).ravel()  # (K,) ratio-major
    hs = (sizes[None, :] * np.sqrt(ratios[:, None])).ravel()
    base = np.stack([-ws, -hs, ws, hs], axis=1) / 2  # (K, 4) centred at 0
    cy, cx = np.meshgrid((np.arange(H) + 0.5) * stride, (np.arange(W) + 0.5) * stride, indexing="ij")
    shifts = np.stack([cx, cy, cx, cy], axis=-1).reshape(-1, 1, 4)  # (H·W, 1, 4)
    return (shifts + base[None]).reshape(-1, 4)


def match_anchors(anchors, gt_boxes, pos_threshold=0.7, neg_threshold=0.3):
    """Label anchors for training like Faster R-CNN's RPN.

    Each anchor is matched to the ground-truth box it overlaps most (first one on ties). Label 1
    (object) if that IoU ≥ ``pos_threshold``, 0 (background) if < ``neg_threshold``, −1 (ignored)
    in between. Also label 1 every anchor whose IoU with some ground truth equals that ground
    truth's highest IoU (so each box gets at least one anchor), unless that IoU is 0.

    Args:
        anchors: (A, 4).
        gt_boxes: (G, 4), G may be 0 (then every anchor is background).

    Returns:
        (labels, matched): int64 arrays (A,); ``matched`` is the index of the best ground truth
        (−1 when G = 0).
    """
    a, g = _boxes(anchors, "anchors"), _boxes(gt_boxes, "gt_boxes")
    if not 0 <= neg_threshold <= pos_threshold <= 1:
        raise ValueError(f"need 0 ≤ neg_threshold ≤ pos_threshold ≤ 1, got {neg_threshold}, {pos_threshold}")
    if len(g) == 0:
        return np.zeros(len(a), dtype=np.int64), np.full(len(a), -1, dtype=np.int64)
    iou = box_iou(a, g)  # (A, G)
    matched = iou.argmax(axis=1)
    best = iou.max(axis=1)
    labels = np.full(len(a), -1, dtype=np.int64)
    labels[best < neg_threshold] = 0
    labels[best >= pos_threshold] = 1
    gt_best = iou.max(axis=0)  # (G,)
    low_quality = ((iou == gt_best[None, :]) & (gt_best[None, :] > 0)).any(axis=1)
    labels[low_quality] = 1
    return labels, matched.astype(np.int64)


def encode_boxes(boxes, anchors):
    """Regression targets of R-CNN: boxes relative to their anchors (proposals).

    With centres (x, y), sizes (w, h) of the box and (x_a, y_a, w_a, h_a) of the anchor:
    ``t_x = (x − x_a)/w_a, t_y = (y − y_a)/h_a, t_w = log(w/w_a), t_h = log(h/h_a)``.

    Args:
        boxes: (N, 4) target boxes (positive width and height).
        anchors: (N, 4) anchors.

    Returns:
        (N, 4) deltas (t_x, t_y, t_w, t_h).
    """
    b, a = _boxes(boxes, "boxes"), _boxes(anchors, "anchors")
    if b.shape != a.shape:
        raise ValueError(f"boxes {b.shape} and anchors {a.shape} must have the same shape")
    b, a = box_convert(b, "xyxy", "cxcywh"), box_convert(a, "xyxy", "cxcywh")
    if (b[:, 2:] <= 0).any() or (a[:, 2:] <= 0).any():
        raise ValueError("boxes and anchors need positive widths and heights to be encoded")
    return np.concatenate([(b[:, :2] - a[:, :2]) / a[:, 2:], np.log(b[:, 2:] / a[:, 2:])], axis=1)


def decode_boxes(deltas, anchors):
    """Inverse of :func:`encode_boxes`: ``x = x_a + t_x·w_a``, ``w = w_a·exp(t_w)``, … → (N, 4) xyxy."""
    d, a = _boxes(deltas, "deltas"), _boxes(anchors, "anchors")
    if d.shape != a.shape:
        raise ValueError(f"deltas {d.shape} and anchors {a.shape} must have the same shape")
    a = box_convert(a, "xyxy", "cxcywh")
    c = np.concatenate([a[:, :2] + d[:, :2] * a[:, 2:], a[:, 2:] * np.exp(d[:, 2:])], axis=1)
    return box_convert(c, "cxcywh", "xyxy")


def _round_half_away(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)  # C's round(), as torchvision's kernel


def roi_pool(input, boxes, output_size, spatial_scale=1.0):
    """RoI max pooling of Fast R-CNN, same as ``torchvision.ops.roi_pool``.

    Each RoI is scaled to the feature map and rounded to whole cells:
    ``x1' = round(x1·scale)``, ``x2' = round(x2·scale)`` (both inclusive, width ``max(x2' − x1' + 1, 1)``),
    then split into PH × PW bins; bin i covers rows ``y1' + floor(i·h/PH)`` … ``y1' + ceil((i+1)·h/PH) − 1``
    clipped to the map. Each output is the max of its bin (0 for an empty bin).

    Args:
        input: feature maps (N, C, H, W).
        boxes: (K, 5) RoIs ``[batch_index, x1, y1, x2, y2]`` in image coordinates.
        output_size: int or (PH, PW).
        spatial_scale: feature-map cells per image pixel (1/16 for VGG16's conv5).

    Returns:
        (K, C, PH, PW).
    """
    check_nchw(input, "input")
    rois = as_float(boxes, "boxes")
    if rois.ndim != 2 or rois.shape[1] != 5:
        raise ValueError(f"boxes must have shape (K, 5) [batch_index, x1, y1, x2, y2], got {rois.shape}")
    ph, pw = (output_size, output_size) if np.isscalar(output_size) else tuple(output_size)
    N, C, H, W = input.shape
    out = np.zeros((len(rois), C, ph, pw), dtype=input.dtype)
    for k, (n, *xyxy) in enumerate(rois):
        if not 0 <= int(n) < N:
            raise ValueError(f"RoI {k} has batch index {int(n)}, but input has N = {N}")
        x1, y1, x2, y2 = (int(v) for v in _round_half_away(np.array(xyxy) * spatial_scale))
        rh, rw = max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)
        for i in range(ph):
            h0 = min(max(int(np.floor(i * rh / ph)) + y1, 0), H)
            h1 = min(max(int(np.ceil((i + 1) * rh / ph)) + y1, 0), H)
            for j in range(pw):
                w0 = min(max(int(np.floor(j * rw / pw)) + x1, 0), W)
                w1 = min(max(int(np.ceil((j + 1) * rw / pw)) + x1, 0), W)
                if h1 > h0 and w1 > w0:
                    out[k, :, i, j] = input[int(n), :, h0:h1, w0:w1].max(axis=(1, 2))
    return out


def yolo_decode(output, image_size, num_boxes=2):
    """Decode a YOLO v1 output tensor into boxes and class-specific confidence scores.

    Cell (i, j) of the S × S grid predicts B boxes ``(x, y, √w, √h, confidence)`` followed by C class
    probabilities: ``output[i, j] = [x, y, √w, √h, conf] * B + [p_1 … p_C]``. x, y are the box centre
    relative to the cell (0…1), w, h relative to the whole image; the network predicts their square
    roots (Redmon et al. 2016, sec. 2.2), so they are squared here. The score of box b for class c
    is ``conf_b · p_c`` = Pr(class) · IoU, as in the paper.

    Args:
        output: (S, S, 5·B + C), e.g. 7 × 7 × 30 for VOC (B = 2, C = 20).
        image_size: side of the (square) image in pixels.
        num_boxes: B.

    Returns:
        (boxes, scores): (S·S·B, 4) xyxy in pixels, ordered by row, column, then b; and (S·S·B, C).
    """
    out = as_float(output, "output")
    B = int(num_boxes)
    if out.ndim != 3 or out.shape[0] != out.shape[1] or out.shape[2] <= 5 * B:
        raise ValueError(f"output must have shape (S, S, 5·B + C) with B = {B}, got {out.shape}")
    S = out.shape[0]
    box = out[..., :5 * B].reshape(S, S, B, 5)  # (S, S, B, 5)
    probs = out[..., 5 * B:]  # (S, S, C)
    rows, cols = np.meshgrid(np.arange(S), np.arange(S), indexing="ij")
    cx = (cols[..., None] + box[..., 0]) / S * image_size
    cy = (rows[..., None] + box[..., 1]) / S * image_size
    w, h = box[..., 2] ** 2 * image_size, box[..., 3] ** 2 * image_size  # from the predicted √w, √h
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1).reshape(-1, 4)
    scores = (box[..., 4:5] * probs[:, :, None, :]).reshape(S * S * B, -1)  # (S·S·B, C)
    return boxes, scores


def _yolo_cell_boxes(xywh, S):
    """(..., S, S, B, 4) boxes (x, y rel. to the cell; w, h rel. to the image) → image-relative xyxy."""
    rows, cols = np.meshgrid(np.arange(S), np.arange(S), indexing="ij")
    cx = (cols[..., None] + xywh[..., 0]) / S
    cy = (rows[..., None] + xywh[..., 1]) / S
    w, h = xywh[..., 2], xywh[..., 3]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


def yolo_v1_loss(pred, target, num_boxes=2, lambda_coord=5.0, lambda_noobj=0.5):
    """The sum-squared loss of YOLO v1 (Redmon et al. 2016, eq. 3), averaged over the batch.

    Layout as in :func:`yolo_decode`: ``pred[n, i, j] = [x, y, √w, √h, conf] * B + [p_1 … p_C]``;
    the target has one object per cell at most, ``target[n, i, j] = [x, y, w, h, obj, p_1 … p_C]``
    with ``obj`` ∈ {0, 1}, x, y relative to the cell and w, h (not their roots) relative to the image.

    Rules (the paper's):

    * **Responsible predictor.** In a cell with an object, the one of the B boxes whose IoU with the
      ground truth is highest is "responsible" (1^obj_ij); the first one on ties. IoU is computed
      between image-relative boxes, the prediction's size being ``(√w)², (√h)²``.
    * **Coordinates**, responsible boxes only, weighted by ``lambda_coord`` = 5:
      ``(x − x̂)² + (y − ŷ)² + (√w − √ŵ)² + (√h − √ĥ)²`` — the square roots make an error of a few pixels
      cost more in a small box than in a large one.
    * **Confidence of a responsible box**: ``(conf − IoU)²``, its target being the IoU of the predicted
      box with the ground truth (a constant, as in the paper: Pr(object) · IoU).
    * **Confidence of every other box** (in empty cells and the non-responsible ones in object cells),
      weighted by ``lambda_noobj`` = 0.5: ``conf²``.
    * **Classes**, once per cell with an object (not per box): ``Σ_c (p_c − p̂_c)²``.

    Args:
        pred: (N, S, S, 5·B + C) network outputs.
        target: (N, S, S, 5 + C) as above.
        num_boxes: B.
        lambda_coord, lambda_noobj: the paper's weights 5 and 0.5.

    Returns:
        float: the sum of all terms over cells and boxes, divided by N.
    """
    p, t = as_float(pred, "pred"), as_float(target, "target")
    B = int(num_boxes)
    if p.ndim != 4 or p.shape[1] != p.shape[2] or p.shape[3] <= 5 * B:
        raise ValueError(f"pred must have shape (N, S, S, 5·B + C) with B = {B}, got {p.shape}")
    C = p.shape[3] - 5 * B
    if t.shape != (*p.shape[:3], 5 + C):
        raise ValueError(f"target must have shape {(*p.shape[:3], 5 + C)} for pred {p.shape}, got {t.shape}")
    N, S = p.shape[:2]
    box = p[..., :5 * B].reshape(N, S, S, B, 5)  # (N, S, S, B, 5)
    obj = t[..., 4] > 0  # (N, S, S)
    pred_xywh = np.concatenate([box[..., :2], box[..., 2:4] ** 2], axis=-1)  # (N, S, S, B, 4)
    a = _yolo_cell_boxes(pred_xywh, S)  # (N, S, S, B, 4) xyxy
    g = _yolo_cell_boxes(t[..., None, :4], S)  # (N, S, S, 1, 4)
    wh = np.clip(np.minimum(a[..., 2:], g[..., 2:]) - np.maximum(a[..., :2], g[..., :2]), 0, None)
    inter = wh[..., 0] * wh[..., 1]  # (N, S, S, B)
    union = pred_xywh[..., 2] * pred_xywh[..., 3] + t[..., None, 2] * t[..., None, 3] - inter
    iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)  # (N, S, S, B) IoU with the cell's truth
    responsible = np.zeros((N, S, S, B), dtype=bool)
    np.put_along_axis(responsible, iou.argmax(axis=-1)[..., None], True, axis=-1)
    responsible &= obj[..., None]  # (N, S, S, B) 1^obj_ij
    gt = t[..., None, :]  # (N, S, S, 1, 5 + C)
    coord = ((box[..., 0] - gt[..., 0]) ** 2 + (box[..., 1] - gt[..., 1]) ** 2
             + (box[..., 2] - np.sqrt(gt[..., 2])) ** 2 + (box[..., 3] - np.sqrt(gt[..., 3])) ** 2)
    conf = box[..., 4]
    loss = (lambda_coord * coord[responsible].sum()
            + ((conf - iou) ** 2)[responsible].sum()
            + lambda_noobj * (conf ** 2)[~responsible].sum()
            + ((p[..., 5 * B:] - t[..., 5:]) ** 2)[obj].sum())
    return float(loss / N)


def ssd_default_boxes(feature_sizes, image_size, s_min=0.2, s_max=0.9, ratios=(1.0, 2.0, 0.5)):
    """SSD's default boxes on several feature maps (Liu et al. 2016, eq. 4).

    Map k of m has scale ``s_k = s_min + (s_max − s_min)(k − 1)/(m − 1)``; each cell gets one box
    ``w = s_k·√a, h = s_k/√a`` per ratio a plus an extra square box of scale ``√(s_k·s_{k+1})``.

    Returns:
        list of (F_k·F_k·(len(ratios) + 1), 4) arrays of xyxy boxes in pixels, one per map.
    """
    m = len(feature_sizes)
    scales = [s_min + (s_max - s_min) * k / max(m - 1, 1) for k in range(m)] + [1.0]
    out = []
    for k, f in enumerate(feature_sizes):
        wh = [(scales[k] * np.sqrt(a), scales[k] / np.sqrt(a)) for a in ratios]
        wh.append((np.sqrt(scales[k] * scales[k + 1]),) * 2)
        wh = np.array(wh) * image_size  # (R, 2)
        c = (np.arange(f) + 0.5) / f * image_size
        cy, cx = np.meshgrid(c, c, indexing="ij")
        ctr = np.stack([cx, cy], axis=-1).reshape(-1, 1, 2)
        out.append(np.concatenate([ctr - wh / 2, ctr + wh / 2], axis=-1).reshape(-1, 4))
    return out
