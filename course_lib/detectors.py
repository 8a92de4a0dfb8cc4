"""Chapter 10's detectors, as tools: a tiny one-stage detector and a two-stage pipeline built on it.

* :class:`TinyDetector` — RetinaNet's recipe at toy scale: a 3-layer CNN (stride 4) turns a 48 × 48
  image into a 12 × 12 feature map; each cell has K anchors, each with C class logits (sigmoid, focal
  loss) and 4 box deltas (smooth-L1 on the positive anchors). :func:`train_one_stage` trains it on
  anchor targets, :func:`detect` turns its outputs into detections.
* The **two-stage** pipeline of Faster R-CNN, on the same features: the one-stage detector's
  class-agnostic score ("is there any object?") plays the RPN — :func:`propose` keeps the best boxes
  after NMS — then every proposal is RoI-pooled from the shared feature map (:func:`roi_features`) and
  a small head (:class:`RoIHead`: C + 1 classes with background, and 4 box deltas relative to the
  proposal) classifies and refines it: :func:`train_two_stage`, :func:`detect_two_stage`.

The chapter's own functions (the students' ``decode_boxes``, ``batched_nms``, ``roi_pool``, …) are
passed in as arguments, so the notebook runs on the student's code; the tests pass the references.
A tool module: it does not import the answers (``course_lib.reference``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_lib.detection_eval import box_convert

__all__ = [
    "RoIHead",
    "TinyDetector",
    "TrainRun",
    "detect",
    "detect_two_stage",
    "detection_loss",
    "focal_loss",
    "propose",
    "roi_features",
    "roi_targets",
    "to_coco",
    "train_one_stage",
    "train_two_stage",
]


@dataclass
class TrainRun:
    """What a training helper returns: the model, the loss of every step and the wall time."""

    model: nn.Module
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


class TinyDetector(nn.Module):
    """48×48 image → per anchor: C class logits and 4 box deltas (12×12 cells × K anchors)."""

    def __init__(self, num_classes=3, num_anchors=2):
        super().__init__()
        layers, c_in = [], 3
        for c_out, pool in [(16, True), (32, True), (48, False)]:
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
            layers += [nn.MaxPool2d(2)] if pool else []
            c_in = c_out
        self.body = nn.Sequential(*layers, nn.Conv2d(48, 48, 3, padding=1), nn.ReLU())
        self.num_classes, self.num_anchors = num_classes, num_anchors
        self.head = nn.Conv2d(48, num_anchors * (num_classes + 4), 1)

    def forward(self, x):
        """(N, 3, 48, 48) → (logits (N, A, C), deltas (N, A, 4)), A = 12·12·K in ``rpn_anchors``' order."""
        out = self.head(self.body(x))  # (N, K·(C + 4), 12, 12)
        n = out.shape[0]
        out = out.permute(0, 2, 3, 1).reshape(n, -1, self.num_classes + 4)  # (N, 12·12·K, C + 4)
        return out[..., :self.num_classes], out[..., self.num_classes:]


def focal_loss(logits, targets, alpha=0.25, gamma=2.0):
    """Sigmoid focal loss (Lin et al. 2017), elementwise: −α_t (1 − p_t)^γ log p_t, in torch."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    return (alpha * targets + (1 - alpha) * (1 - targets)) * (1 - p_t) ** gamma * ce


def detection_loss(model, x, labels, classes, deltas):
    """RetinaNet's loss: focal loss over the non-ignored anchors + smooth-L1 on the positives, / #positives.

    Args:
        x: (N, 3, H, W) images; labels: (N, A) in {1, 0, −1}; classes: (N, A); deltas: (N, A, 4).
    """
    logits, pred = model(x)
    pos, valid = labels == 1, labels >= 0
    target = torch.zeros_like(logits)
    target[pos, classes[pos]] = 1.0
    n_pos = max(int(pos.sum()), 1)
    cls_loss = (focal_loss(logits, target).sum(-1) * valid).sum() / n_pos
    box_loss = F.smooth_l1_loss(pred[pos], deltas[pos], beta=1 / 9, reduction="sum") / n_pos
    return cls_loss + box_loss


def _minibatches(n, batch, epochs, desc, progress):
    for _epoch in tqdm(range(epochs), desc=desc, disable=not progress):
        perm = torch.randperm(n)
        for b in range(0, n, batch):
            yield perm[b:b + batch]


def train_one_stage(images, labels, classes, deltas, epochs=14, batch=16, lr=3e-3, seed=0, progress=True):
    """Train a :class:`TinyDetector` with Adam on anchor targets (from ``match_anchors`` / ``encode_boxes``).

    Args:
        images: (N, 3, 48, 48) float32; labels, classes: (N, A) int; deltas: (N, A, 4).

    Returns:
        :class:`TrainRun` (the model in eval mode).
    """
    torch.manual_seed(seed)
    model = TinyDetector()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    data = [torch.from_numpy(np.ascontiguousarray(a)) for a in
            (images, labels, classes, np.asarray(deltas, dtype=np.float32))]
    run, start = TrainRun(model), time.perf_counter()
    model.train()
    for idx in _minibatches(len(images), batch, epochs, "one-stage detector", progress):
        loss = detection_loss(model, *(d[idx] for d in data))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        run.losses.append(loss.item())
    run.seconds = time.perf_counter() - start
    model.eval()
    return run


def _outputs(model, images):
    model.eval()
    with torch.no_grad():
        logits, pred = model(torch.from_numpy(np.ascontiguousarray(images)))
    return torch.sigmoid(logits).numpy().astype(np.float64), pred.numpy().astype(np.float64)


def detect(model, images, anchors, decode_fn: Callable, nms_fn: Callable, score_threshold=0.05, iou_threshold=0.5,
           apply_nms=True, max_dets=100):
    """One-stage inference: best class per anchor (its sigmoid is the score), threshold, decode, per-class NMS.

    Args:
        decode_fn: ``decode_boxes(deltas, anchors)``; nms_fn: ``batched_nms(boxes, scores, idxs, thr)``.

    Returns:
        list of (boxes (D, 4) xyxy, scores (D,), labels (D,) 0-based), one per image.
    """
    probs, pred = _outputs(model, images)
    results = []
    for i in range(len(images)):
        score, label = probs[i].max(axis=1), probs[i].argmax(axis=1)
        idx = np.flatnonzero(score > score_threshold)
        boxes = np.asarray(decode_fn(pred[i][idx], anchors[idx]), dtype=np.float64).reshape(-1, 4)
        keep = nms_fn(boxes, score[idx], label[idx], iou_threshold)[:max_dets] if apply_nms else np.arange(len(idx))
        results.append((boxes[keep], score[idx][keep], label[idx][keep]))
    return results


def to_coco(results, coco_gt):
    """Detections ``[(boxes xyxy, scores, labels 0-based)]`` per image → COCO's result format."""
    return [{"image_id": img["id"], "category_id": int(c) + 1, "bbox": [float(v) for v in b], "score": float(s)}
            for img, (boxes, scores, labels) in zip(coco_gt["images"], results, strict=True)
            for b, s, c in zip(box_convert(boxes, "xyxy", "xywh"), scores, labels, strict=True)]


# --------------------------------------------------------------------------- two stages

def propose(model, images, anchors, decode_fn: Callable, nms_fn: Callable, top_n=12, nms_threshold=0.7,
            image_size=48):
    """Stage 1, the RPN's job: class-agnostic proposals from the one-stage detector.

    The "objectness" of an anchor is its highest class probability; every anchor's box is decoded,
    clipped to the image, and NMS at ``nms_threshold`` (Faster R-CNN's 0.7, one class for all) keeps
    the ``top_n`` best per image.

    Returns:
        list of (P, 4) xyxy proposals, one array per image, P ≤ top_n.
    """
    probs, pred = _outputs(model, images)
    proposals = []
    for i in range(len(images)):
        score = probs[i].max(axis=1)
        order = np.argsort(-score, kind="stable")[:20 * top_n]  # pre-NMS top-k, as Faster R-CNN
        boxes = np.clip(np.asarray(decode_fn(pred[i][order], anchors[order]), dtype=np.float64), 0, image_size)
        keep = nms_fn(boxes, score[order], np.zeros(len(order), dtype=np.int64), nms_threshold)[:top_n]
        proposals.append(boxes[keep])
    return proposals


def roi_features(model, images, proposals, roi_pool_fn: Callable, output_size=3, spatial_scale=0.25):
    """Stage 2's input: each proposal RoI-pooled from the shared feature map (the detector's body).

    Args:
        proposals: list of (P_i, 4) xyxy boxes in image pixels, one per image.
        roi_pool_fn: ``roi_pool(input, boxes, output_size, spatial_scale)`` (K, 5) RoIs → (K, C, PH, PW).

    Returns:
        (K, C·PH·PW) float32, K = Σ P_i, in the order of the images then proposals.
    """
    model.eval()
    with torch.no_grad():
        feats = model.body(torch.from_numpy(np.ascontiguousarray(images))).numpy()  # (N, 48, 12, 12)
    rois = np.concatenate([np.concatenate([np.full((len(p), 1), i, dtype=np.float64), p], axis=1)
                           for i, p in enumerate(proposals)], axis=0)  # (K, 5)
    pooled = np.asarray(roi_pool_fn(feats, rois, output_size, spatial_scale))  # (K, C, PH, PW)
    return pooled.reshape(len(rois), -1).astype(np.float32)


class RoIHead(nn.Module):
    """Fast R-CNN's head at toy scale: pooled features → C + 1 class logits (0 = background), 4 deltas."""

    def __init__(self, in_features, num_classes=3, hidden=128):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.cls = nn.Linear(hidden, num_classes + 1)
        self.box = nn.Linear(hidden, 4)

    def forward(self, x):
        h = self.mlp(x)
        return self.cls(h), self.box(h)


def _iou(a, b):
    wh = np.clip(np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2]), 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-12)


def roi_targets(proposals, gts, encode_fn: Callable, fg_threshold=0.5):
    """Fast R-CNN's labels: a proposal with IoU ≥ ``fg_threshold`` with some object takes its class
    (1 … C) and the deltas to it; otherwise it is background (0).

    Args:
        proposals: list of (P_i, 4); gts: list of (boxes (G_i, 4), labels (G_i,) 0-based).

    Returns:
        (classes (K,) int64, deltas (K, 4) float32).
    """
    classes, deltas = [], []
    for p, (g, lab) in zip(proposals, gts, strict=True):
        c, d = np.zeros(len(p), dtype=np.int64), np.zeros((len(p), 4))
        if len(p) and len(g):
            iou = _iou(p, g)
            best, m = iou.max(axis=1), iou.argmax(axis=1)
            fg = best >= fg_threshold
            c[fg] = lab[m[fg]] + 1
            if fg.any():
                d[fg] = encode_fn(g[m[fg]], p[fg])
        classes.append(c)
        deltas.append(d)
    return np.concatenate(classes), np.concatenate(deltas).astype(np.float32)


def train_two_stage(features, classes, deltas, num_classes=3, epochs=10, batch=128, lr=3e-3, seed=0, progress=True):
    """Train a :class:`RoIHead` on fixed RoI features: cross-entropy + smooth-L1 on the foreground RoIs.

    The backbone is shared with (and frozen from) the one-stage detector, so the pooled features are
    computed once and this trains a small MLP — seconds on a CPU.

    Returns:
        :class:`TrainRun`.
    """
    torch.manual_seed(seed)
    model = RoIHead(features.shape[1], num_classes=num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    x, c, d = (torch.from_numpy(np.ascontiguousarray(a)) for a in (features, classes, deltas))
    mean, std = x.mean(0, keepdim=True), x.std(0, keepdim=True) + 1e-6
    model.register_buffer("mean", mean)
    model.register_buffer("std", std)
    run, start = TrainRun(model), time.perf_counter()
    model.train()
    for idx in _minibatches(len(x), batch, epochs, "RoI head", progress):
        logits, pred = model((x[idx] - mean) / std)
        fg = c[idx] > 0
        loss = F.cross_entropy(logits, c[idx])
        if fg.any():
            loss = loss + F.smooth_l1_loss(pred[fg], d[idx][fg], beta=1 / 9)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        run.losses.append(loss.item())
    run.seconds = time.perf_counter() - start
    model.eval()
    return run


def detect_two_stage(head, features, proposals, decode_fn: Callable, nms_fn: Callable, score_threshold=0.05,
                     iou_threshold=0.5, max_dets=100, image_size=48):
    """Stage 2 at test time: per proposal the best non-background class (softmax probability = score),
    the box refined by the head's deltas, then per-class NMS.

    Returns:
        list of (boxes (D, 4), scores (D,), labels (D,) 0-based), one per image.
    """
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(features))
        logits, pred = head((x - head.mean) / head.std)
    probs, pred = torch.softmax(logits, -1).numpy().astype(np.float64), pred.numpy().astype(np.float64)
    results, start = [], 0
    for p in proposals:
        sl = slice(start, start + len(p))
        start += len(p)
        score, label = probs[sl, 1:].max(axis=1), probs[sl, 1:].argmax(axis=1)
        idx = np.flatnonzero(score > score_threshold)
        boxes = np.clip(np.asarray(decode_fn(pred[sl][idx], p[idx]), dtype=np.float64).reshape(-1, 4), 0, image_size)
        keep = nms_fn(boxes, score[idx], label[idx], iou_threshold)[:max_dets]
        results.append((boxes[keep], score[idx][keep], label[idx][keep]))
    return results
