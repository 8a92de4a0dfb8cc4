# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 10 — Object detection from first principles
#
# A classifier says *what* is in an image; a detector says what, **where** (a bounding box per object)
# and **how many**. Between 2014 and 2016 detection went from R-CNN — 53.3 % mAP on PASCAL VOC 2012
# with AlexNet, 47 s per image with VGG16 — to Fast R-CNN (VGG16: 65.7 %, 2 s with its proposals) and
# Faster R-CNN (VGG16: 67.0 %, 0.2 s), while YOLO reached 45 frames per second by looking at the image
# only once. The lecture notes list these numbers (section 4 says which network and data each belongs
# to); this chapter builds every piece those systems share, checks each against a trusted
# reference, and ends by training a small one-stage detector that finds circles, squares and triangles
# (mAP@0.5 close to 1 on held-out images, measured with COCO's evaluator) and a small two-stage detector
# built on it — proposals, NMS, your RoI pooling and a head — to compare the two families.
#
# | # | you write | points |
# |---|---|---|
# | 1 | `box_iou` — intersection over union of two sets of boxes | 2 |
# | 2 | `nms` — greedy non-maximum suppression (torchvision's semantics) | 2 |
# | 3 | `batched_nms` — NMS per class | 1 |
# | 4 | `roi_pool` — Fast R-CNN's RoI max pooling | 2 |
# | 5 | `rpn_anchors` — the 9 anchors of Faster R-CNN's RPN, tiled over a feature map | 2 |
# | 6 | `match_anchors` — positive / negative / ignored anchors (IoU ≥ 0.7, < 0.3, best per object) | 2 |
# | 7 | `encode_boxes` and `decode_boxes` — the (t_x, t_y, t_w, t_h) box regression targets | 1 + 1 |
# | 8 | `average_precision` — all-point, VOC 11-point and COCO 101-point AP | 2 |
# | 9 | `yolo_decode` — YOLO v1's 7×7×30 output → 98 boxes | 2 |
# | 10 | `yolo_v1_loss` — YOLO v1's sum-squared loss (λ_coord, λ_noobj, √w, responsible boxes) | 3 |
#
# Each exercise has a `check_*` cell that explains the first thing that is wrong. While your functions
# are checked, `torch`, `scipy`, `pycocotools` and the course's reference implementations are switched
# off: write the numpy yourself. Given, not exercises: `box_convert` and COCO's mAP `coco_map`
# (`course_lib.detection_eval`, checked against pycocotools by the course's tests), and the detectors'
# models and training loops (`course_lib.detectors`). Boxes are `(x1, y1, x2, y2)` in pixels (top-left, bottom-right), as in
# torchvision; COCO files store `[x, y, w, h]`.
#
# **Key terms** ([glossary](../../docs/glossary.md)): object detection 目标检测 · bounding box 边界框 · intersection over union (IoU) 交并比 · non-maximum suppression (NMS) 非极大值抑制 · region proposal 区域提议 · anchor 锚框 · region proposal network (RPN) 区域提议网络 · RoI pooling 感兴趣区域池化 · bounding-box regression 边界框回归 · precision 查准率 · recall 查全率 · mean average precision (mAP) 平均精度均值 · one-stage / two-stage detector 单阶段 / 双阶段 · anchor-free 无锚框 · focal loss 焦点损失

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle

from course_lib import detectors
from course_lib.data import SHAPE_CLASSES, shapes_detection
from course_lib.detection_eval import box_convert, coco_map, gt_of, pycocotools_map
from course_lib.reference.losses import sigmoid_focal_loss
from course_lib.reference.pool import spatial_pyramid_pool
from course_lib.testing import (
    check_average_precision,
    check_batched_nms,
    check_box_iou,
    check_decode_boxes,
    check_encode_boxes,
    check_match_anchors,
    check_nms,
    check_roi_pool,
    check_rpn_anchors,
    check_yolo_decode,
    check_yolo_v1_loss,
)
from course_lib.viz.detection import AnchorNMSPlayground

np.set_printoptions(precision=4, suppress=True)
torch.set_num_threads(1)  # small models: one thread beats two that wait for each other on a busy machine
COLOURS = ("tab:red", "tab:blue", "tab:green")


def draw_boxes(ax, boxes, labels=None, scores=None, color=None, lw=1.5, **kw):
    """Draw xyxy boxes on a matplotlib axis, coloured by class label if given."""
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, dtype=float).reshape(-1, 4)):
        c = color or (COLOURS[int(labels[i]) % 3] if labels is not None else "yellow")
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=c, lw=lw, **kw))
        if scores is not None:
            ax.text(x1, y1 - 1, f"{scores[i]:.2f}", color=c, fontsize=7)


# %% [markdown]
# ## 1. The data: shapes with COCO annotations
#
# Real detection datasets (PASCAL VOC, COCO) are gigabytes. Ours is generated on the spot with a
# seed: 48×48 images with one to three coloured circles, squares and triangles of 12–22 pixels, and
# annotations in the **COCO format** that MMDetection and pycocotools read (`images`, `annotations`
# with `bbox = [x, y, w, h]`, `categories`). `box_convert` (given, like torchvision's) turns COCO's
# `[x, y, w, h]` into the `(x1, y1, x2, y2)` corners used everywhere below, and `gt_of(coco, i)` returns
# the boxes and 0-based labels of image i.

# %%
X_train, coco_train = shapes_detection(400, seed=0, min_side=12)
X_test, coco_test = shapes_detection(100, seed=1, min_side=12)
print("images", X_train.shape, "| objects:", len(coco_train["annotations"]), "train,",
      len(coco_test["annotations"]), "test | categories:", [c["name"] for c in coco_test["categories"]])
print("one annotation:", coco_test["annotations"][0])

fig, axes = plt.subplots(1, 6, figsize=(12, 2.3))
for i, ax in enumerate(axes):
    ax.imshow(X_test[i].transpose(1, 2, 0))
    draw_boxes(ax, *gt_of(coco_test, i))
    ax.set_axis_off()
fig.suptitle("ground truth: " + ", ".join(f"{n} = {c}" for n, c in zip(SHAPE_CLASSES, COLOURS, strict=True)),
             fontsize=10)
plt.show()

# %% [markdown]
# ## 2. Intersection over union
#
# How well does a predicted box fit an object? The standard measure is the **intersection over union**
#
# $$\mathrm{IoU}(A, B) = \frac{|A \cap B|}{|A \cup B|} = \frac{|A\cap B|}{|A| + |B| - |A \cap B|},$$
#
# 1 for a perfect fit, 0 for disjoint boxes. A detection usually counts as correct when IoU > 0.5
# (the notes: "一般IoU>0.5认为定位成功"). The intersection of two boxes is a box too:
# `(max x1, max y1, min x2, min y2)`, empty if its width or height would be negative.
#
# **Exercise 1.** Compute the IoU of every box of `boxes1` (N, 4) with every box of `boxes2` (M, 4),
# like `torchvision.ops.box_iou`, without loops (broadcast `(N, 1, 2)` against `(1, M, 2)`). Boxes may
# be degenerate (zero width or height): define IoU = 0 when the union is 0 (never NaN). Raise
# `ValueError` if an input is not of shape (·, 4). Keep the input dtype.

# %% nbgrader={"grade": false, "grade_id": "box_iou", "locked": false, "schema_version": 3, "solution": true, "task": false}
def box_iou(boxes1, boxes2):
    """Pairwise IoU.

    Args:
        boxes1: (N, 4) boxes (x1, y1, x2, y2).
        boxes2: (M, 4) boxes.

    Returns:
        Array (N, M) in [0, 1].
    """
    ### BEGIN SOLUTION
    a, b = np.asarray(boxes1), np.asarray(boxes2)
    if a.ndim != 2 or a.shape[1] != 4 or b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4) and (M, 4), got {a.shape} and {b.shape}")
    lt = np.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2)
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    iou = inter / np.where(union > 0, union, 1)
    return iou.astype(np.result_type(a, b))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_box_iou", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "box_iou", "seed": 1001}
check_box_iou(box_iou)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("box_iou", box_iou, seed=1001)
### END HIDDEN TESTS

# %% [markdown]
# IoU is unforgiving for small objects: shifting a 12-pixel box by 3 pixels in x and y drops it to
# 0.39 — already a miss at the usual 0.5 threshold — while a 40-pixel box survives the same shift.

# %%
for side in (12, 40):
    b = np.array([[0.0, 0, side, side]])
    print(f"{side}-px box shifted by (3, 3): IoU = {box_iou(b, b + 3)[0, 0]:.2f}")

# %% [markdown]
# ## 3. Non-maximum suppression
#
# A detector fires many overlapping boxes around each object. **Non-maximum suppression (NMS)**
# keeps the best one: sort by score; take the highest box, delete every remaining box that overlaps
# it with IoU > threshold; repeat with the next surviving box.
#
# **Exercise 2.** Implement greedy NMS with `torchvision.ops.nms` semantics: return the indices (int64)
# of the kept boxes, highest score first; a box is suppressed only if its IoU with a kept box is
# **strictly greater** than `iou_threshold`. Break score ties by index (`np.argsort(-scores,
# kind="stable")`). Use your `box_iou`.
#
# **Exercise 3.** `batched_nms`: boxes of different classes (`idxs`) must not suppress each other. Run
# your `nms` once per class and return all kept indices together, sorted by decreasing score (stable).

# %% nbgrader={"grade": false, "grade_id": "nms", "locked": false, "schema_version": 3, "solution": true, "task": false}
def nms(boxes, scores, iou_threshold):
    """Greedy NMS.

    Args:
        boxes: (N, 4); scores: (N,); iou_threshold: float.

    Returns:
        int64 array of kept indices, highest score first.
    """
    ### BEGIN SOLUTION
    order = np.argsort(-np.asarray(scores), kind="stable")
    iou = box_iou(boxes, boxes)
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in order:
        if not suppressed[i]:
            keep.append(i)
            suppressed |= iou[i] > iou_threshold
    return np.array(keep, dtype=np.int64)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_nms", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "nms", "seed": 1002}
check_nms(nms)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("nms", nms, seed=1002)
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "batched_nms", "locked": false, "schema_version": 3, "solution": true, "task": false}
def batched_nms(boxes, scores, idxs, iou_threshold):
    """NMS per category.

    Args:
        boxes: (N, 4); scores: (N,); idxs: (N,) category of each box; iou_threshold: float.

    Returns:
        int64 array of kept indices over all categories, highest score first.
    """
    ### BEGIN SOLUTION
    boxes, scores, idxs = np.asarray(boxes), np.asarray(scores), np.asarray(idxs)
    keep = [np.flatnonzero(idxs == c)[nms(boxes[idxs == c], scores[idxs == c], iou_threshold)]
            for c in np.unique(idxs)]
    keep = np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)
    return keep[np.argsort(-scores[keep], kind="stable")].astype(np.int64)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_batched_nms", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "batched_nms", "seed": 1003}
check_batched_nms(batched_nms)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("batched_nms", batched_nms, seed=1003)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. The two-stage family: R-CNN → SPP-net → Fast R-CNN → Faster R-CNN → Mask R-CNN
#
# | model | idea | VOC 2012 test mAP | time / image |
# |---|---|---|---|
# | R-CNN (2014) | ~2,000 Selective Search proposals, each warped and passed through the CNN; class SVMs; box regression | 53.3 % (AlexNet); 62.4 % (VGG16) | 13 s GPU / 53 s CPU (AlexNet); 47 s (VGG16, GPU) |
# | SPP-net (2014) | one CNN pass for the whole image; pool each proposal's window with a spatial pyramid (6, 3, 2, 1: 50 bins) | | |
# | Fast R-CNN (2015) | one-level pyramid = **RoI pooling**; softmax instead of SVMs; smooth-L1 box regression in the same network | 65.7 % (VGG16) | 0.32 s + ~1.5 s Selective Search (VGG16) |
# | Faster R-CNN (2015) | proposals from a **region proposal network** (RPN) on the shared features: 9 anchors per location | 67.0 % (VGG16) | 0.2 s (VGG16, proposals included) |
# | Mask R-CNN (2017) | adds a mask branch (a small FCN per RoI) and replaces RoI pooling by **RoIAlign** | | |
#
# (The lecture notes quote these numbers. All mAPs are on the PASCAL VOC 2012 test set with the
# detector trained on VOC 2012 trainval; trained on 07++12 — VOC 2007 trainval+test as well — Fast and
# Faster R-CNN reach 68.4 % and 70.4 %. The times are from the papers: R-CNN's own for AlexNet, Fast
# R-CNN's for R-CNN with VGG16, Faster R-CNN's — on a K40 GPU — for the last two.) The speed-ups come
# from not repeating work: R-CNN runs the CNN 2,000 times per image, Fast R-CNN once, and Faster R-CNN
# even computes its proposals from the same feature map instead of Selective Search.
#
# **SPP-net's pyramid** (Chapter 3's `spatial_pyramid_pool`, reused here) turns a feature map of any
# size into a fixed-length vector — which the fully-connected layers need. The notes' example: a
# 40×60 map is cut into 1 window, 4 windows of 20×30 and 16 of 10×15; with 256 channels that is
# 21 × 256 = 5,376 numbers whatever the window size. The paper's own pyramid (6, 3, 2, 1) gives
# 50 × 256 = 12,800; on maps whose size SPP-net's ⌈a/n⌉ windows with stride ⌊a/n⌋ do not fit
# (Chapter 3) we use the adaptive bins:

# %%
rng = np.random.default_rng(0)
for (h, w), levels, bins in [((40, 60), (4, 2, 1), "paper"), ((13, 13), (6, 3, 2, 1), "paper"),
                             ((7, 20), (6, 3, 2, 1), "adaptive")]:
    v = spatial_pyramid_pool(rng.standard_normal((1, 256, h, w)), levels=levels, bins=bins)
    print(f"feature map 256×{h}×{w}, levels {levels} ({bins} bins) → SPP vector of length {v.shape[1]:,} "
          f"= {sum(n * n for n in levels)} bins × 256")

# %% [markdown]
# ## 5. RoI pooling
#
# Fast R-CNN crops each proposal (RoI, region of interest) from the *shared* feature map and max-pools
# it into a fixed PH × PW grid (7 × 7 for VGG16). torchvision's `roi_pool` does it like this for an RoI
# `[n, x1, y1, x2, y2]` in image coordinates and a feature map `spatial_scale` times smaller:
#
# 1. round to whole feature cells, C-style (half away from zero; numpy's `np.round` rounds half to even,
#    so use `np.floor(v + 0.5)` for v ≥ 0): `x1' = round(x1·scale)`, `x2' = round(x2·scale)`, same for y;
# 2. the RoI spans `w = max(x2' − x1' + 1, 1)` cells (both ends included), `h` likewise;
# 3. bin (i, j) covers rows `y1' + floor(i·h/PH)` up to (excluded) `y1' + ceil((i+1)·h/PH)`, columns
#    likewise, clipped to the map `[0, H]`, `[0, W]`;
# 4. output = max over the bin, or 0 if the bin is empty.
#
# **Exercise 4.** Implement `roi_pool(input, boxes, output_size, spatial_scale=1.0)`: input (N, C, H, W),
# boxes (K, 5), output (K, C, PH, PW) with the input's dtype; `output_size` is an int or a pair. Loops
# over RoIs and bins are fine.

# %% nbgrader={"grade": false, "grade_id": "roi_pool", "locked": false, "schema_version": 3, "solution": true, "task": false}
def roi_pool(input, boxes, output_size, spatial_scale=1.0):
    """RoI max pooling.

    Args:
        input: (N, C, H, W) feature maps.
        boxes: (K, 5) RoIs [batch_index, x1, y1, x2, y2] in image coordinates.
        output_size: int or (PH, PW).
        spatial_scale: feature cells per image pixel.

    Returns:
        (K, C, PH, PW).
    """
    ### BEGIN SOLUTION
    ph, pw = (output_size, output_size) if np.isscalar(output_size) else output_size
    N, C, H, W = input.shape
    out = np.zeros((len(boxes), C, ph, pw), dtype=input.dtype)
    for k, (n, *xyxy) in enumerate(np.asarray(boxes, dtype=np.float64)):
        v = np.array(xyxy) * spatial_scale
        x1, y1, x2, y2 = (int(t) for t in np.sign(v) * np.floor(np.abs(v) + 0.5))
        h, w = max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)
        for i in range(ph):
            r0 = min(max(y1 + int(np.floor(i * h / ph)), 0), H)
            r1 = min(max(y1 + int(np.ceil((i + 1) * h / ph)), 0), H)
            for j in range(pw):
                c0 = min(max(x1 + int(np.floor(j * w / pw)), 0), W)
                c1 = min(max(x1 + int(np.ceil((j + 1) * w / pw)), 0), W)
                if r1 > r0 and c1 > c0:
                    out[k, :, i, j] = input[int(n), :, r0:r1, c0:c1].max(axis=(1, 2))
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_roi_pool", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "roi_pool", "seed": 1004}
check_roi_pool(roi_pool)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("roi_pool", roi_pool, seed=1004)
### END HIDDEN TESTS

# %% [markdown]
# Every RoI, large or small, becomes the same 7 × 7 grid (here pooled straight from the image's
# pixels, to see it; Fast R-CNN pools the conv5 features with `spatial_scale = 1/16`):

# %%
gt_boxes, gt_labels = gt_of(coco_test, 0)
rois = np.concatenate([np.zeros((len(gt_boxes), 1)), gt_boxes], axis=1)
pooled = roi_pool(X_test[:1].astype(np.float64), rois, 7)
fig, axes = plt.subplots(1, 1 + len(rois), figsize=(2.2 * (1 + len(rois)), 2.3))
axes[0].imshow(X_test[0].transpose(1, 2, 0))
draw_boxes(axes[0], gt_boxes, gt_labels)
for ax, p, (x1, y1, x2, y2) in zip(axes[1:], pooled, gt_boxes, strict=True):
    ax.imshow(np.clip(p.transpose(1, 2, 0), 0, 1))
    ax.set_title(f"{x2 - x1:.0f}×{y2 - y1:.0f} RoI → 7×7", fontsize=9)
for ax in axes:
    ax.set_axis_off()
plt.show()

# %% [markdown]
# RoI pooling rounds twice (the RoI to cells, the bins to cells), so the pooled window can be off by
# up to a cell — 16 pixels at stride 16. That does not hurt classification much but it does hurt
# pixel-accurate masks; Mask R-CNN's **RoIAlign** removes both roundings and samples the features at
# exact positions with bilinear interpolation.
#
# ## 6. Anchors: the RPN's 9 boxes per location
#
# Faster R-CNN's **region proposal network** slides a 3×3 conv over the shared feature map; at every
# location it scores k = 9 reference boxes called **anchors** — 3 sizes × 3 aspect ratios — as
# object / background (2k scores) and regresses 4k box offsets from them. With the VGG16 backbone
# (stride 16) and sizes 128, 256, 512 pixels, a ~1000 × 600 image gives a ~60 × 40 map and about
# 60 · 40 · 9 ≈ 20,000 anchors.
#
# **Exercise 5.** `rpn_anchors(feature_size, stride, sizes=(128, 256, 512), ratios=(0.5, 1.0, 2.0))`:
# at feature cell (i, j) centre the anchors at `((j + 0.5)·stride, (i + 0.5)·stride)`; for size s and
# ratio r = h / w use `w = s / √r`, `h = s·√r` (area s²). Return (H·W·K, 4) xyxy boxes ordered row by
# row, then column, then ratio-major within a cell (all sizes of the first ratio, then the next ratio).

# %% nbgrader={"grade": false, "grade_id": "rpn_anchors", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rpn_anchors(feature_size, stride, sizes=(128, 256, 512), ratios=(0.5, 1.0, 2.0)):
    """Anchors tiled over a feature map.

    Returns:
        (H·W·K, 4) float64 xyxy boxes, K = len(ratios)·len(sizes).
    """
    ### BEGIN SOLUTION
    H, W = feature_size
    sizes, ratios = np.asarray(sizes, dtype=np.float64), np.asarray(ratios, dtype=np.float64)
    ws = (sizes[None, :] / np.sqrt(ratios[:, None])).ravel()  # (K,) ratio-major
    hs = (sizes[None, :] * np.sqrt(ratios[:, None])).ravel()
    base = np.stack([-ws, -hs, ws, hs], axis=1) / 2  # (K, 4)
    cy, cx = np.meshgrid((np.arange(H) + 0.5) * stride, (np.arange(W) + 0.5) * stride, indexing="ij")
    centres = np.stack([cx, cy, cx, cy], axis=-1).reshape(-1, 1, 4)  # (H·W, 1, 4)
    return (centres + base[None]).reshape(-1, 4)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_rpn_anchors", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "rpn_anchors", "seed": 1005}
check_rpn_anchors(rpn_anchors)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("rpn_anchors", rpn_anchors, seed=1005)
### END HIDDEN TESTS

# %%
nine = rpn_anchors((1, 1), 16)
print("the 9 anchors at one location (w × h):", [f"{x2 - x1:.0f}×{y2 - y1:.0f}" for x1, y1, x2, y2 in nine])
print("anchors for a 1000×600 image at stride 16:", len(rpn_anchors((600 // 16, 1000 // 16), 16)))
fig, ax = plt.subplots(figsize=(4, 4))
draw_boxes(ax, nine - 8, color=None, labels=np.repeat([0, 1, 2], 3))
ax.set_xlim(-400, 400)
ax.set_ylim(400, -400)
ax.set_aspect("equal")
ax.set_title("9 anchors: ratio h/w = 0.5 (red), 1 (blue), 2 (green)", fontsize=9)
plt.show()

# %% [markdown]
# **Which anchors learn what?** To train the RPN every anchor gets a label. Faster R-CNN's rule:
# match each anchor to the ground-truth box it overlaps most; it is **positive** (1) if that IoU ≥ 0.7,
# **negative** (0, background) if < 0.3, and **ignored** (−1, no loss) in between. A small or oddly
# shaped object may have no anchor above 0.7, so in addition the anchor(s) with the highest IoU for
# each ground truth become positive.
#
# **Exercise 6.** `match_anchors(anchors, gt_boxes, pos_threshold=0.7, neg_threshold=0.3)` returns
# `(labels, matched)`, both int64 (A,): the labels above and, for every anchor, the index of its
# best ground truth (first on ties, `argmax`). Details: the "best anchor per ground truth" rule marks
# *every* anchor whose IoU equals that ground truth's maximum (ties included), but not when that
# maximum is 0; with no ground truth at all, every anchor is background and `matched` is −1.

# %% nbgrader={"grade": false, "grade_id": "match_anchors", "locked": false, "schema_version": 3, "solution": true, "task": false}
def match_anchors(anchors, gt_boxes, pos_threshold=0.7, neg_threshold=0.3):
    """Label anchors 1 / 0 / −1 and match them to ground-truth boxes.

    Returns:
        (labels, matched): int64 arrays (A,).
    """
    ### BEGIN SOLUTION
    A = len(anchors)
    if len(gt_boxes) == 0:
        return np.zeros(A, dtype=np.int64), np.full(A, -1, dtype=np.int64)
    iou = box_iou(anchors, gt_boxes)  # (A, G)
    best = iou.max(axis=1)
    labels = np.full(A, -1, dtype=np.int64)
    labels[best < neg_threshold] = 0
    labels[best >= pos_threshold] = 1
    gt_best = iou.max(axis=0)
    labels[((iou == gt_best) & (gt_best > 0)).any(axis=1)] = 1
    return labels, iou.argmax(axis=1).astype(np.int64)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_match_anchors", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "match_anchors", "seed": 1006}
check_match_anchors(match_anchors)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("match_anchors", match_anchors, seed=1006)
### END HIDDEN TESTS

# %% [markdown]
# **Box regression.** An anchor is only roughly where the object is; the network predicts a
# correction. R-CNN's parametrisation is relative to the anchor's centre and size, so it means the
# same for small and large boxes:
#
# $$t_x = \frac{x - x_a}{w_a},\quad t_y = \frac{y - y_a}{h_a},\quad t_w = \log\frac{w}{w_a},\quad t_h = \log\frac{h}{h_a}$$
#
# with (x, y) the box centre and (w, h) its size. Decoding inverts it: $x = x_a + t_x w_a$,
# $w = w_a e^{t_w}$.
#
# **Exercise 7.** `encode_boxes(boxes, anchors)` → (N, 4) deltas and `decode_boxes(deltas, anchors)` →
# (N, 4) xyxy boxes (use `box_convert`). `encode_boxes` raises `ValueError` when the two arrays do not
# have the same shape.

# %% nbgrader={"grade": false, "grade_id": "encode_boxes", "locked": false, "schema_version": 3, "solution": true, "task": false}
def encode_boxes(boxes, anchors):
    """(N, 4) xyxy boxes relative to (N, 4) anchors → (N, 4) deltas (t_x, t_y, t_w, t_h)."""
    ### BEGIN SOLUTION
    if np.shape(boxes) != np.shape(anchors):
        raise ValueError(f"boxes {np.shape(boxes)} and anchors {np.shape(anchors)} must have the same shape")
    b, a = box_convert(boxes, "xyxy", "cxcywh"), box_convert(anchors, "xyxy", "cxcywh")
    return np.concatenate([(b[:, :2] - a[:, :2]) / a[:, 2:], np.log(b[:, 2:] / a[:, 2:])], axis=1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_encode_boxes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "encode_boxes", "seed": 1007}
check_encode_boxes(encode_boxes)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("encode_boxes", encode_boxes, seed=1007)
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "decode_boxes", "locked": false, "schema_version": 3, "solution": true, "task": false}
def decode_boxes(deltas, anchors):
    """(N, 4) deltas applied to (N, 4) anchors → (N, 4) xyxy boxes."""
    ### BEGIN SOLUTION
    a = box_convert(anchors, "xyxy", "cxcywh")
    d = np.asarray(deltas, dtype=np.float64)
    c = np.concatenate([a[:, :2] + d[:, :2] * a[:, 2:], a[:, 2:] * np.exp(d[:, 2:])], axis=1)
    return box_convert(c, "cxcywh", "xyxy")
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_decode_boxes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "decode_boxes", "seed": 1008}
check_decode_boxes(decode_boxes)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("decode_boxes", decode_boxes, seed=1008)
### END HIDDEN TESTS

# %% [markdown]
# Decoding undoes encoding exactly, so the network only has to learn four small numbers per anchor:

# %%
anchors = rpn_anchors((12, 12), 4, sizes=(12, 20), ratios=(1.0,))  # the anchors of our detector below
gt_boxes, gt_labels = gt_of(coco_train, 0)
labels, matched = match_anchors(anchors, gt_boxes, 0.5, 0.4)
pos = np.flatnonzero(labels == 1)
deltas = encode_boxes(gt_boxes[matched[pos]], anchors[pos])
assert np.allclose(decode_boxes(deltas, anchors[pos]), gt_boxes[matched[pos]], atol=1e-9)
print(f"{len(anchors)} anchors: {len(pos)} positive, {(labels == -1).sum()} ignored, {(labels == 0).sum()} "
      f"background for {len(gt_boxes)} objects\ndeltas of the first 4 positives:\n{deltas[:4]}")

# %% [markdown]
# ## 7. Precision, recall and (m)AP
#
# Sort all detections of one class by score. Going down the list, a detection is a **true positive**
# if it matches a not yet matched ground-truth object with IoU ≥ 0.5, otherwise a false positive.
# After k detections, with M objects in total:
#
# $$\text{precision} = \frac{TP}{k} = \frac{TP}{TP + FP}, \qquad \text{recall} = \frac{TP}{M} = \frac{TP}{TP + FN}.$$
#
# Taking more detections raises recall and usually lowers precision (the notes: "选择样本数N越多，召回率
# 越高，查准率越低"). **AP** summarises the precision-recall curve in one number: the area under it,
# after replacing precision by its *envelope* $p_{\text{interp}}(r) = \max_{r' \ge r} p(r')$.
# There are three conventions:
#
# * **all-point** (VOC 2010 and later): the exact area under the envelope step curve;
# * **VOC 11-point** (VOC 2007): the mean of the envelope at recall 0, 0.1, …, 1 (0 where recall never
#   gets there);
# * **COCO 101-point** (pycocotools): the mean at recall 0, 0.01, …, 1, where the value at threshold
#   r is the envelope at the *first* point with recall ≥ r (`np.searchsorted(recall, r, side="left")`),
#   0 if there is none.
#
# **mAP** is the mean of AP over classes; COCO's headline number additionally averages over the IoU
# thresholds 0.50, 0.55, …, 0.95 ("mAP@[.5:.95]"), so it rewards precise boxes.
#
# `precision_recall` is given:

# %%
def precision_recall(scores, is_tp, num_gt):
    """Precision and recall (D,) after each detection, taken by decreasing score (stable on ties)."""
    tp = np.cumsum(np.asarray(is_tp, dtype=bool)[np.argsort(-np.asarray(scores), kind="stable")])
    k = np.arange(1, len(tp) + 1)
    return tp / k, (tp / num_gt if num_gt > 0 else np.zeros(len(tp)))


# %% [markdown]
# **Exercise 8.** `average_precision(recall, precision, method="all")` for the three methods
# `"all"`, `"voc11"`, `"coco101"`; raise `ValueError` for any other method. For `"all"`: pad recall with
# 0 in front and 1 at the end, precision with 0 at both ends, take the envelope
# (`np.maximum.accumulate` on the reversed array), and sum `Δrecall · precision` where recall changes.

# %% nbgrader={"grade": false, "grade_id": "average_precision", "locked": false, "schema_version": 3, "solution": true, "task": false}
def average_precision(recall, precision, method="all"):
    """Area under the interpolated P-R curve ("all", "voc11" or "coco101") as a float."""
    ### BEGIN SOLUTION
    r, p = np.asarray(recall, dtype=np.float64), np.asarray(precision, dtype=np.float64)
    if method == "all":
        mrec = np.concatenate([[0.0], r, [1.0]])
        mpre = np.maximum.accumulate(np.concatenate([[0.0], p, [0.0]])[::-1])[::-1]
        i = np.flatnonzero(mrec[1:] != mrec[:-1])
        return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))
    if method not in ("voc11", "coco101"):
        raise ValueError(f"unknown method {method!r}")
    env = np.maximum.accumulate(p[::-1])[::-1]
    if method == "voc11":
        return float(np.mean([env[r >= t].max() if (r >= t).any() else 0.0 for t in np.linspace(0, 1, 11)]))
    idx = np.searchsorted(r, np.linspace(0, 1, 101), side="left")
    return float(np.mean([env[i] if i < len(r) else 0.0 for i in idx]))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_average_precision", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "average_precision", "seed": 1009}
check_average_precision(average_precision)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("average_precision", average_precision, seed=1009)
### END HIDDEN TESTS

# %% [markdown]
# **COCO's mAP is given.** `coco_map(coco_gt, detections, iou_thresholds=None, max_dets=100)` from
# `course_lib.detection_eval` computes COCO's box mAP the way pycocotools does (area "all", at most 100
# detections per image), and the course's tests check that both agree to 1e-9:
#
# for every IoU threshold t and every category with at least one ground-truth box —
# 1. in each image, keep the category's `max_dets` highest-scoring detections and visit them by
#    decreasing score: each takes the not yet matched ground truth of that image and category with the
#    highest IoU ≥ t, else it is a false positive;
# 2. pool all images' detections, compute precision and recall with M = the category's ground-truth
#    count, and the **COCO 101-point AP** — your Exercise 8;
#
# then the mean over all (t, category) pairs. `iou_thresholds=None` means 0.50, 0.55, …, 0.95;
# `[0.5]` gives mAP@0.5. The bookkeeping (images, categories, `max_dets`, pycocotools' tie-breaking)
# is COCO's convention rather than an idea, so it is not an exercise; read it with `coco_map??`.

# %% [markdown]
# **Cross-check with pycocotools.** Noisy copies of the test set's boxes (some shifted, some with the
# wrong class, some false positives), scored by `coco_map` and by the official tool:

# %%
rng = np.random.default_rng(0)
fake = []
for a in coco_test["annotations"]:
    for _ in range(int(rng.integers(1, 4))):
        x, y, w, h = np.array(a["bbox"]) + rng.normal(0, 2.0, size=4)
        cat = a["category_id"] if rng.random() > 0.2 else int(rng.integers(1, 4))
        fake.append({"image_id": a["image_id"], "category_id": cat, "bbox": [x, y, max(w, 1), max(h, 1)],
                     "score": float(rng.random())})
ours = coco_map(coco_test, fake), coco_map(coco_test, fake, [0.5])
theirs = pycocotools_map(coco_test, fake)
print(f"mAP@[.5:.95]: coco_map {ours[0]:.6f}, pycocotools {theirs[0]:.6f}")
print(f"mAP@0.5     : coco_map {ours[1]:.6f}, pycocotools {theirs[1]:.6f}")

# %% [markdown]
# The precision-recall curve of one class, with its three APs:

# %%
def class_pr(coco_gt, dets, cat, t=0.5):
    """Pooled precision/recall of one category at IoU threshold t (each detection tries its best-IoU object)."""
    scores, tps, num_gt = [], [], 0
    for img in coco_gt["images"]:
        g = box_convert([a["bbox"] for a in coco_gt["annotations"]
                         if a["image_id"] == img["id"] and a["category_id"] == cat], "xywh", "xyxy")
        d = sorted([d for d in dets if d["image_id"] == img["id"] and d["category_id"] == cat],
                   key=lambda d: -d["score"])
        iou = box_iou(box_convert([x["bbox"] for x in d], "xywh", "xyxy"), g)  # (D, G)
        num_gt += len(g)
        for k, det in enumerate(d):
            j = int(np.argmax(iou[k])) if len(g) else -1
            hit = j >= 0 and iou[k, j] >= t
            if hit:
                iou[:, j] = -1  # taken
            scores.append(det["score"])
            tps.append(hit)
    return precision_recall(np.array(scores), np.array(tps), num_gt)


p, r = class_pr(coco_test, fake, 1)
p_interp = np.maximum.accumulate(p[::-1])[::-1]  # the envelope
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(r, p, ".-", lw=0.8, ms=3, label="precision")
ax.step(r, p_interp, where="post", label="envelope (interpolated)")
ax.set_xlabel("recall")
ax.set_ylabel("precision")
ax.set_title("class 'circle', IoU ≥ 0.5: AP all-point {:.3f}, 11-point {:.3f}, 101-point {:.3f}".format(
    *(average_precision(r, p, m) for m in ("all", "voc11", "coco101"))), fontsize=9)
ax.legend()
plt.show()

# %% [markdown]
# ## 8. One-stage detectors: YOLO
#
# YOLO ("you only look once") drops the proposals: one network maps the image to an S × S grid, and
# each cell predicts B boxes `(x, y, √w, √h, confidence)` and C class probabilities. It predicts the
# *square roots* of width and height so that the squared-error loss weighs an error of a few pixels more
# in a small box than in a large one. With S = 7, B = 2
# and VOC's C = 20 the output is 7 × 7 × (2·5 + 20) = 7 × 7 × 30, i.e. **98 boxes** per image. The
# confidence is trained to be Pr(object) · IoU(pred, truth); the score of box b for class c is
# confidence_b · Pr(class c | object). Then: score threshold, NMS. It ran at 45 frames per second on a
# Titan X (Fast YOLO: 155), with more localisation errors and trouble with small objects close together
# (one class per cell).
#
# **Exercise 9.** `yolo_decode(output, image_size, num_boxes=2)`: `output[i, j]` (row i, column j) is
# `[x, y, √w, √h, conf] * B + [p_1 … p_C]`; (x, y) is the centre relative to the cell (0…1), (w, h)
# relative to the image — square the predicted √w, √h to get them. Return `boxes` (S·S·B, 4) xyxy in pixels — ordered by row, column, then b —
# and `scores` (S·S·B, C) = conf · p. Raise `ValueError` unless the output is (S, S, 5·B + C) with C ≥ 1.

# %% nbgrader={"grade": false, "grade_id": "yolo_decode", "locked": false, "schema_version": 3, "solution": true, "task": false}
def yolo_decode(output, image_size, num_boxes=2):
    """YOLO v1 output (S, S, 5·B + C) → (boxes (S·S·B, 4), scores (S·S·B, C))."""
    ### BEGIN SOLUTION
    S, B = output.shape[0], num_boxes
    if output.ndim != 3 or output.shape[1] != S or output.shape[2] <= 5 * B:
        raise ValueError(f"output must be (S, S, 5·B + C) with B = {B}, got {output.shape}")
    box = output[..., :5 * B].reshape(S, S, B, 5)
    rows, cols = np.meshgrid(np.arange(S), np.arange(S), indexing="ij")
    cx = (cols[..., None] + box[..., 0]) / S * image_size
    cy = (rows[..., None] + box[..., 1]) / S * image_size
    w, h = box[..., 2] ** 2 * image_size, box[..., 3] ** 2 * image_size  # the network predicts √w, √h
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1).reshape(-1, 4)
    scores = box[..., 4:5] * output[:, :, None, 5 * B:]  # (S, S, B, C)
    return boxes, scores.reshape(S * S * B, -1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_yolo_decode", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "yolo_decode", "seed": 1011}
check_yolo_decode(yolo_decode)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("yolo_decode", yolo_decode, seed=1011)
### END HIDDEN TESTS

# %% [markdown]
# **Training YOLO v1.** The whole detector is trained with one sum-squared error over the output
# tensor (Redmon et al. 2016, eq. 3). With $\mathbb{1}^{obj}_{ij}$ = "box j of cell i is responsible for
# the object in cell i" and $\mathbb{1}^{noobj}_{ij}$ its complement:
#
# $$\begin{aligned}
# \mathcal{L} ={}& \lambda_{coord} \sum_{i=0}^{S^2}\sum_{j=0}^{B} \mathbb{1}^{obj}_{ij}\big[(x_i-\hat x_i)^2 + (y_i-\hat y_i)^2\big]
#  + \lambda_{coord} \sum_{i}\sum_{j} \mathbb{1}^{obj}_{ij}\big[(\sqrt{w_i}-\sqrt{\hat w_i})^2 + (\sqrt{h_i}-\sqrt{\hat h_i})^2\big] \\
# &+ \sum_{i}\sum_{j} \mathbb{1}^{obj}_{ij}(C_i-\hat C_i)^2 + \lambda_{noobj}\sum_{i}\sum_{j} \mathbb{1}^{noobj}_{ij}(C_i-\hat C_i)^2
#  + \sum_{i} \mathbb{1}^{obj}_{i}\sum_{c \in \text{classes}}(p_i(c)-\hat p_i(c))^2
# \end{aligned}$$
#
# * **λ_coord = 5, λ_noobj = 0.5**: most cells hold no object, and their confidences (pushed to 0)
#   would otherwise overpower the few boxes that do — the same imbalance RetinaNet attacks below.
# * **√w, √h**: the network predicts square roots, so a 5-pixel error costs more in a small box.
# * **Responsible box**: of the B predictors of a cell that holds an object's centre, only the one
#   whose predicted box has the **highest IoU** with the ground truth gets the coordinate and the
#   object-confidence terms; the others count as "no object". So the B predictors specialise.
# * **Confidence target = IoU** of the responsible predicted box with the ground truth (Pr(object) · IoU);
#   0 for every other box. The class term is counted once per cell with an object.
#
# **Exercise 10.** `yolo_v1_loss(pred, target, num_boxes=2, lambda_coord=5.0, lambda_noobj=0.5)`.
# `pred` (N, S, S, 5·B + C) has `yolo_decode`'s layout `[x, y, √w, √h, conf] * B + [p_1 … p_C]`;
# `target` (N, S, S, 5 + C) is `[x, y, w, h, obj, p_1 … p_C]` with obj ∈ {0, 1} and w, h themselves
# (not their roots), all relative as in `yolo_decode`. Compute each predictor's IoU with its cell's
# ground truth in image-relative units (the predicted size is `(√w)²`), pick the responsible predictor
# by `argmax` (first on ties), and return the sum of the five terms divided by N as a float. Raise
# `ValueError` unless `target` has shape (N, S, S, 5 + C) for `pred`'s N, S and C.

# %% nbgrader={"grade": false, "grade_id": "yolo_v1_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def yolo_v1_loss(pred, target, num_boxes=2, lambda_coord=5.0, lambda_noobj=0.5):
    """YOLO v1's loss (Redmon et al. 2016, eq. 3) summed over cells and boxes, averaged over the batch.

    Rules: the responsible box of a cell with an object is the one of its B boxes with the highest IoU
    with the ground truth (first on ties); it gets λ_coord·[(x − x̂)² + (y − ŷ)² + (√w − √ŵ)² + (√h − √ĥ)²]
    and (conf − IoU)² (confidence target = IoU); every other box gets λ_noobj·conf²; each cell with an
    object gets Σ_c (p_c − p̂_c)².

    Args:
        pred: (N, S, S, 5·B + C), boxes as [x, y, √w, √h, conf].
        target: (N, S, S, 5 + C), [x, y, w, h, obj, p_1 … p_C].

    Returns:
        float.
    """
    ### BEGIN SOLUTION
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    N, S, B = pred.shape[0], pred.shape[1], num_boxes
    C = pred.shape[-1] - 5 * B
    if target.shape != (N, S, S, 5 + C):
        raise ValueError(f"target must have shape {(N, S, S, 5 + C)}, got {target.shape}")
    box = pred[..., :5 * B].reshape(N, S, S, B, 5)
    gt = target[..., None, :]  # (N, S, S, 1, 5 + C)
    rows, cols = np.meshgrid(np.arange(S), np.arange(S), indexing="ij")
    rows, cols = rows[None, :, :, None], cols[None, :, :, None]

    def corners(x, y, w, h):  # image-relative xyxy, (N, S, S, ·) each
        cx, cy = (cols + x) / S, (rows + y) / S
        return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2

    pw, ph = box[..., 2] ** 2, box[..., 3] ** 2
    a, g = corners(box[..., 0], box[..., 1], pw, ph), corners(gt[..., 0], gt[..., 1], gt[..., 2], gt[..., 3])
    iw = np.clip(np.minimum(a[2], g[2]) - np.maximum(a[0], g[0]), 0, None)
    ih = np.clip(np.minimum(a[3], g[3]) - np.maximum(a[1], g[1]), 0, None)
    union = pw * ph + gt[..., 2] * gt[..., 3] - iw * ih
    iou = np.where(union > 0, iw * ih / np.where(union > 0, union, 1), 0.0)  # (N, S, S, B)
    obj = target[..., 4] > 0
    resp = (np.arange(B) == iou.argmax(axis=-1)[..., None]) & obj[..., None]  # (N, S, S, B)
    coord = ((box[..., 0] - gt[..., 0]) ** 2 + (box[..., 1] - gt[..., 1]) ** 2
             + (box[..., 2] - np.sqrt(gt[..., 2])) ** 2 + (box[..., 3] - np.sqrt(gt[..., 3])) ** 2)
    loss = (lambda_coord * coord[resp].sum() + ((box[..., 4] - iou) ** 2)[resp].sum()
            + lambda_noobj * (box[..., 4] ** 2)[~resp].sum()
            + ((pred[..., 5 * B:] - target[..., 5:]) ** 2)[obj].sum())
    return float(loss / N)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_yolo_v1_loss", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "yolo_v1_loss", "seed": 1012}
check_yolo_v1_loss(yolo_v1_loss)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("yolo_v1_loss", yolo_v1_loss, seed=1012)
### END HIDDEN TESTS

# %% [markdown]
# A made-up 7 × 7 × 30 output for a 448-pixel image with two objects: each object's cell and its
# neighbours vote with both of their boxes (their √w, √h entries are the square roots of the objects'
# sizes); everything else has low confidence.

# %%
rng = np.random.default_rng(1)
out = np.zeros((7, 7, 30))
out[..., :10] = rng.uniform(0.2, 0.8, size=(7, 7, 10))
out[..., 4], out[..., 9] = rng.uniform(0, 0.1, size=(2, 7, 7))  # low confidence everywhere ...
out[..., 10:] = rng.dirichlet(np.ones(20), size=(7, 7))
for (r, c), cls, (w, h) in [((2, 2), 11, (0.3, 0.35)), ((4, 5), 14, (0.25, 0.5))]:  # dog, person
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            i, j = r + dr, c + dc
            for b in range(2):
                out[i, j, 5 * b:5 * b + 5] = [0.5 - dc + rng.normal(0, 0.05), 0.5 - dr + rng.normal(0, 0.05),
                                              np.sqrt(w) + rng.normal(0, 0.02), np.sqrt(h) + rng.normal(0, 0.02),
                                              0.9 - 0.2 * (abs(dr) + abs(dc)) - 0.1 * b]
            out[i, j, 10:] = 0.01
            out[i, j, 10 + cls] = 0.81
boxes, scores = yolo_decode(out, 448)
best, cls = scores.max(axis=1), scores.argmax(axis=1)
above = np.flatnonzero(best > 0.2)
keep = above[batched_nms(boxes[above], best[above], cls[above], 0.5)]
print(f"{len(boxes)} boxes → {len(above)} above score 0.2 → {len(keep)} after NMS: classes {cls[keep]}")
fig, axes = plt.subplots(1, 2, figsize=(8, 4))
for ax, idx, title in [(axes[0], above, "before NMS"), (axes[1], keep, "after NMS")]:
    ax.imshow(np.full((448, 448, 3), 0.95))
    for k in range(8):
        ax.axhline(k * 64, color="0.8", lw=0.5)
        ax.axvline(k * 64, color="0.8", lw=0.5)
    draw_boxes(ax, boxes[idx], labels=(cls[idx] == 14).astype(int), scores=best[idx], lw=1)
    ax.set_title(f"{title}: {len(idx)} boxes", fontsize=9)
    ax.set_axis_off()
plt.show()

# %% [markdown]
# ## 9. SSD and RetinaNet: anchors on several scales, and the class imbalance
#
# **SSD** (2016) keeps YOLO's single pass but puts anchors ("default boxes") on several feature maps:
# large, early maps for small objects, small, late maps for large objects. SSD300 uses maps of
# 38, 19, 10, 5, 3 and 1 cells with 4 or 6 default boxes per cell (scales 0.2 … 0.9 of the image,
# ratios 1, 2, ½ (and 3, ⅓), plus one extra square box per cell):

# %%
ssd_maps, ssd_per_cell = (38, 19, 10, 5, 3, 1), (4, 6, 6, 6, 4, 4)
total = sum(f * f * k for f, k in zip(ssd_maps, ssd_per_cell, strict=True))
print(" + ".join(f"{f}²·{k}" for f, k in zip(ssd_maps, ssd_per_cell, strict=True)), f"= {total} default boxes")
from course_lib.reference.detection import ssd_default_boxes  # noqa: E402 - the reference, just to draw

fig, axes = plt.subplots(1, 3, figsize=(9, 3))
for ax, f, dboxes in zip(axes, (6, 3, 1), ssd_default_boxes((6, 3, 1), 48), strict=True):
    ax.imshow(X_test[2].transpose(1, 2, 0))
    centre = (f // 2) * f + f // 2  # the middle cell
    draw_boxes(ax, dboxes[centre * 4:(centre + 1) * 4], color="yellow", lw=1)
    ax.set_xlim(-20, 68)
    ax.set_ylim(68, -20)
    ax.set_title(f"{f}×{f} map: 4 default boxes per cell", fontsize=9)
    ax.set_axis_off()
plt.show()

# %% [markdown]
# **RetinaNet** (2017) asks why one-stage detectors were less accurate than two-stage ones, and answers:
# **class imbalance**. A one-stage detector scores every anchor, and almost all anchors are background;
# a two-stage detector's RPN has already thrown most of them away. Even when each easy background
# anchor has a small loss, there are so many that they dominate the total. The fix is the **focal loss**
# of Chapter 6, $-\alpha_t (1-p_t)^\gamma \log p_t$, which scales an example's loss by how *wrong* it
# still is. We use it below to train our detector; first, a look at how imbalanced our anchors are:

# %%
def anchor_targets(coco, n_images, anchors):
    """labels (N, A) in {1, 0, −1}, classes (N, A), deltas (N, A, 4) from your match / encode."""
    labels = np.zeros((n_images, len(anchors)), dtype=np.int64)
    classes = np.zeros_like(labels)
    deltas = np.zeros((n_images, len(anchors), 4))
    for i in range(n_images):
        gt, cls = gt_of(coco, i)
        labels[i], matched = match_anchors(anchors, gt, 0.5, 0.4)  # RetinaNet's thresholds
        if len(gt):
            classes[i] = cls[matched]
            deltas[i] = encode_boxes(gt[matched], anchors)
    return labels, classes, deltas


labels_train, classes_train, deltas_train = anchor_targets(coco_train, len(X_train), anchors)
n_pos, n_neg = (labels_train == 1).sum(), (labels_train == 0).sum()
print(f"{anchors.shape[0]} anchors per image: {n_pos / len(X_train):.1f} positive, "
      f"{n_neg / len(X_train):.0f} background on average → 1 : {n_neg / n_pos:.0f}")

# %% [markdown]
# With a constant prediction p = 0.01 of "object" (RetinaNet's initial prior) for every anchor and
# class, how much of the loss comes from the background anchors — here, and with the ~1 : 1000
# imbalance of a real image with ~100,000 anchors? Under cross-entropy the easy negatives dominate;
# the focal loss makes them negligible, so training concentrates on the objects and the hard cases.

# %%
t = np.zeros((int(n_pos + n_neg), 3))
t[:n_pos, 0] = 1  # the positives have one true class
logits = np.full_like(t, np.log(0.01 / 0.99))
for name, (alpha, gamma) in {"cross-entropy": (-1, 0), "focal loss (α = 0.25, γ = 2)": (0.25, 2)}.items():
    loss = sigmoid_focal_loss(logits, t, alpha=alpha, gamma=gamma)
    bg, fg = loss[n_pos:].sum(), loss[:n_pos].sum()
    at_1000 = bg / n_neg * 1000 * n_pos  # the same anchors at RetinaNet's ~1 : 1000
    print(f"{name:>28}: background carries {bg / (bg + fg):.2%} of the loss here, "
          f"{at_1000 / (at_1000 + fg):.2%} at 1 : 1000")

# %% [markdown]
# ## 10. A detector that really trains
#
# Now the pieces come together in a small **one-stage, anchor-based** detector (RetinaNet's recipe at
# toy scale): a 3-layer CNN with stride 4 turns a 48 × 48 image into a 12 × 12 feature map; at each cell
# 2 anchors (12 and 20 pixels) get 3 class logits (sigmoid, focal loss) and 4 box deltas (smooth-L1 on
# the positives). The targets come from **your** `match_anchors` and `encode_boxes`; at test time your
# `decode_boxes` and `batched_nms` turn the outputs into detections, and `coco_map` scores them.
# The model (`detectors.TinyDetector`), its loss (focal loss + smooth-L1, `detectors.detection_loss`)
# and the training loop (Adam, 14 epochs, `detectors.train_one_stage`) are given tools: read them with
# `detectors.TinyDetector??`.

# %%
one_stage = detectors.train_one_stage(X_train, labels_train, classes_train, deltas_train, epochs=14)
model, losses = one_stage.model, one_stage.losses
print(f"14 epochs in {one_stage.seconds:.1f} s, final loss {np.mean(losses[-25:]):.3f}")
plt.figure(figsize=(5, 2.5))
plt.plot(losses, lw=0.5)
plt.plot(np.convolve(losses, np.ones(25) / 25, mode="valid"), lw=1.5)
plt.xlabel("step")
plt.ylabel("focal + smooth-L1 loss")
plt.yscale("log")
plt.show()

# %% [markdown]
# **Inference** (`detectors.detect`). Each anchor keeps its best class (score = its sigmoid), we drop
# scores below 0.05, decode the boxes with your `decode_boxes` and run your `batched_nms` at IoU 0.5,
# keeping at most 100 per image. `detectors.to_coco` writes them in COCO's result format.

# %%
def detect(images, score_threshold=0.05, apply_nms=True):
    """The trained one-stage detector on images, with your decode_boxes and batched_nms."""
    return detectors.detect(model, images, anchors, decode_boxes, batched_nms, score_threshold=score_threshold,
                            apply_nms=apply_nms)


dets = detectors.to_coco(detect(X_test), coco_test)
map50, map_coco = coco_map(coco_test, dets, [0.5]), coco_map(coco_test, dets)
ref_coco, ref50 = pycocotools_map(coco_test, dets)
print(f"held-out mAP@0.5      : coco_map {map50:.4f} | pycocotools {ref50:.4f}")
print(f"held-out mAP@[.5:.95] : coco_map {map_coco:.4f} | pycocotools {ref_coco:.4f}")

# %% [markdown]
# Raw outputs (every anchor with score > 0.3) and what NMS keeps:

# %%
raw = detect(X_test[:5], score_threshold=0.3, apply_nms=False)
kept = detect(X_test[:5], score_threshold=0.3)
fig, axes = plt.subplots(2, 5, figsize=(11, 4.8))
for i in range(5):
    for row, (res, title) in enumerate([(raw, "before NMS"), (kept, "after NMS")]):
        ax = axes[row, i]
        ax.imshow(X_test[i].transpose(1, 2, 0))
        boxes, scores, labels = res[i]
        draw_boxes(ax, boxes, labels, scores=scores if row else None, lw=1)
        ax.set_title(f"{title}: {len(boxes)}", fontsize=8)
        ax.set_axis_off()
plt.show()

# %% [markdown]
# ## 11. A two-stage detector on the same features
#
# Faster R-CNN is two detectors in a row. Its RPN *is* a one-stage detector — anchors, objectness,
# box deltas — only class-agnostic; its second stage (Fast R-CNN) crops every proposal from the
# shared feature map with RoI pooling and classifies and refines it. We build exactly that on top of
# the detector we just trained (`course_lib.detectors`, with your functions plugged in):
#
# 1. **Proposals.** The RPN's "is there any object here?" is the one-stage detector's highest class
#    probability per anchor; the 120 best anchors are decoded (your `decode_boxes`), clipped to the
#    image, and NMS at IoU 0.7 — Faster R-CNN's value, one class for all (your `batched_nms`) — keeps
#    6 proposals per image. For training, the ground-truth boxes are added to the proposals, as in
#    Fast R-CNN.
# 2. **RoI pooling.** Every proposal is pooled from the shared 48 × 12 × 12 feature map (stride 4, so
#    `spatial_scale = 1/4`) into 48 × 3 × 3 by **your** `roi_pool`.
# 3. **A head.** A 2-layer MLP gives 4 class scores (background + 3 shapes, softmax, cross-entropy)
#    and 4 deltas relative to the proposal (your `encode_boxes`, smooth-L1 on the proposals with
#    IoU ≥ 0.5). The backbone stays frozen — it is shared with stage 1 — so the pooled features are
#    computed once and only the head trains (Faster R-CNN's "approximate joint training" would update
#    the backbone too).
# 4. **Inference.** Per proposal the best non-background class and its probability, the box refined
#    by the head, then per-class NMS at 0.5.

# %%
def proposals_of(images, top_n=6):
    """Stage 1: class-agnostic proposals from the one-stage detector, after NMS at 0.7."""
    return detectors.propose(model, images, anchors, decode_boxes, batched_nms, top_n=top_n, nms_threshold=0.7)


start = time.perf_counter()
gts_train = [gt_of(coco_train, i) for i in range(len(X_train))]
props_train = [np.concatenate([p, g]) for p, (g, _) in zip(proposals_of(X_train), gts_train, strict=True)]
feats_train = detectors.roi_features(model, X_train, props_train, roi_pool, output_size=3, spatial_scale=1 / 4)
roi_classes, roi_deltas = detectors.roi_targets(props_train, gts_train, encode_boxes)
head = detectors.train_two_stage(feats_train, roi_classes, roi_deltas, epochs=10)
print(f"{len(feats_train)} training RoIs of {feats_train.shape[1]} features "
      f"({np.mean(roi_classes == 0):.0%} background); stage 2 trained in {time.perf_counter() - start:.1f} s")

props_test = proposals_of(X_test)
feats_test = detectors.roi_features(model, X_test, props_test, roi_pool, output_size=3, spatial_scale=1 / 4)
two_stage = detectors.detect_two_stage(head.model, feats_test, props_test, decode_boxes, batched_nms)
dets2 = detectors.to_coco(two_stage, coco_test)
hits = []  # per test object: does some proposal overlap it with IoU ≥ 0.5?
for i, p in enumerate(props_test):
    hits += list(box_iou(gt_of(coco_test, i)[0], p).max(axis=1, initial=0.0) >= 0.5)
rows = [("one-stage (TinyDetector)", dets), ("two-stage (proposals → RoI pool → head)", dets2)]
print(f"proposals: {np.mean([len(p) for p in props_test]):.1f} per test image, "
      f"recall at IoU 0.5: {np.mean(hits):.1%}\n")
print(f"| {'detector':<40} | mAP@0.5 | mAP@[.5:.95] |\n|{'-' * 42}|---------|--------------|")
for name, d in rows:
    print(f"| {name:<40} | {coco_map(coco_test, d, [0.5]):7.3f} | {coco_map(coco_test, d):12.3f} |")

# %% [markdown]
# On these easy shapes both detectors find nearly every object at IoU 0.5, and the second stage
# does not pay off: it *re-classifies* boxes the first stage had already classified well, and its
# boxes are less tight (lower mAP@[.5:.95]). The reason is the pooling: at stride 4, RoI pooling
# rounds every proposal to whole feature cells — up to 2 pixels on each side, a lot for a 12-pixel
# object — and a 3 × 3 grid of coarse features says little about where inside a cell an edge lies.
# This is the quantisation Mask R-CNN's **RoIAlign** removes. On real images with thousands of
# anchors per object, the proposal stage's filtering of the background is what made two-stage
# detectors more accurate until RetinaNet's focal loss (section 9).
#
# Proposals (yellow) and the two-stage detections:

# %%
fig, axes = plt.subplots(1, 5, figsize=(11, 2.6))
for i, ax in enumerate(axes):
    ax.imshow(X_test[i].transpose(1, 2, 0))
    draw_boxes(ax, props_test[i], color="yellow", lw=0.8, ls="--")
    boxes, scores, labels = two_stage[i]
    keep = scores > 0.3
    draw_boxes(ax, boxes[keep], labels[keep], scores=scores[keep], lw=1.2)
    ax.set_title(f"{len(props_test[i])} proposals → {keep.sum()} boxes", fontsize=8)
    ax.set_axis_off()
plt.show()

# %% [markdown]
# ## 12. Playground: anchors, matching and NMS
#
# Left: the ground truth (dashed), the 2 anchors of the chosen cell (yellow) and every positive anchor
# coloured by its IoU. Right: the trained detector's raw boxes (grey)
# and those that pass the score threshold and NMS. Lower the NMS threshold until neighbouring objects
# start to suppress each other; raise it to 1 to see every duplicate.

# %%
raw_all = detect(X_test[:20], score_threshold=0.01, apply_nms=False)
AnchorNMSPlayground(X_test[:20], {**coco_test, "images": coco_test["images"][:20]}, candidates=lambda i: raw_all[i],
                    stride=4, sizes=(12, 20), ratios=(1.0,), nms_fn=batched_nms)

# %% [markdown]
# ## 13. The map of detectors
#
# **One-stage vs two-stage.** Two-stage detectors (R-CNN, Fast/Faster R-CNN, Cascade R-CNN) first
# propose regions, then classify and refine each one; the proposal stage removes most background, so
# the second stage sees a balanced problem — accurate but slower. One-stage detectors (YOLO, SSD,
# RetinaNet, FCOS) predict classes and boxes for every location in one pass — fast, and since
# RetinaNet's focal loss as accurate as two-stage ones.
#
# **Anchor-based vs anchor-free.** Faster R-CNN, SSD, RetinaNet and YOLO v2+ regress from anchors,
# which adds hyper-parameters (sizes, ratios, IoU thresholds — everything you just implemented) and many
# boxes per location. Anchor-free detectors (FCOS, CenterNet, RepPoints) predict from points instead: a
# location inside an object regresses its distances to the four sides (FCOS) or the object centre is a
# heat-map peak (CenterNet). The notes' trade-off: anchors bring many hyper-parameters, removing them
# used to cost accuracy.
#
# **DETR** (2020) treats detection as set prediction: a CNN backbone and a transformer encoder-decoder
# turn a fixed number of learned object queries (100) into 100 (class, box) pairs; training matches
# predictions to ground truth one-to-one with the Hungarian algorithm, so there are neither anchors nor
# NMS. It converges slowly (500 epochs on COCO); Deformable DETR attends only to a few sampling points
# and trains ~10× faster.
#
# In MMDetection (lecture notes, part 4) these are the interchangeable modules of a config: backbone
# (e.g. ResNet-50), neck (FPN), head (RPN / RetinaHead / …), with box assigners (your
# `match_anchors`), box coders (`encode_boxes` / `decode_boxes`), NMS post-processing and the COCO mAP
# evaluator.

# %% [markdown]
# ## Summary
#
# * **IoU** measures how well a box fits; **NMS** keeps the best of overlapping boxes (suppress only
#   IoU > threshold, per class with `batched_nms`).
# * The **two-stage** family: R-CNN (a CNN per proposal) → SPP-net / Fast R-CNN (one CNN pass, **RoI
#   pooling** of each proposal) → Faster R-CNN (proposals from an **RPN** with 9 **anchors** per
#   location, matched at IoU ≥ 0.7 / < 0.3) → Mask R-CNN (RoIAlign, masks).
# * Boxes are regressed relative to anchors or proposals, $(t_x, t_y, t_w, t_h)$, and decoded back.
# * **AP** is the area under the interpolated precision–recall curve (all-point, VOC 11-point, COCO
#   101-point); COCO's mAP averages it over classes and IoU thresholds 0.5 … 0.95 (`coco_map`, which
#   agrees with pycocotools).
# * **One-stage** detectors: YOLO v1 (7 × 7 × 30 → 98 boxes, one sum-squared loss with λ_coord = 5,
#   λ_noobj = 0.5, √w, √h, a responsible box per object, confidence target = IoU), SSD (8,732 default
#   boxes on 6 maps), RetinaNet (the focal loss against the background's overwhelming share of the loss).
# * Trained on the synthetic shapes, the one-stage detector and the two-stage detector built on its
#   features (proposals → NMS → your RoI pooling → a head) both reach mAP@0.5 near 1; the two-stage
#   boxes are less tight, because RoI pooling rounds proposals to stride-4 cells.

# %% [markdown]
# > **Where this chapter differs from the lecture notes**
# >
# > * **SPP's bins.** The notes' example is a 21-bin pyramid (16 + 4 + 1); SPP-net's experiments use 50 bins, {6, 3, 2, 1}, with windows ⌈a/n⌉ and stride ⌊a/n⌋ (errata 2c40d14).
# > * **YOLO v1 predicts √w and √h**, so `yolo_decode` squares them.
# > * **The R-CNN family's figures come with their backbones and data:** R-CNN's 53.3 % is with AlexNet and its 47 s/image with VGG16; Fast and Faster R-CNN's 65.7 % / 67.0 % are VGG16 trained on VOC 2012 trainval (68.4 % / 70.4 % on 07++12).
# > * **"IoU > 0.5 认为定位成功"** is PASCAL VOC's rule; COCO averages AP over IoU thresholds 0.5, 0.55, …, 0.95, which `coco_map` implements.
# > * **YOLO v1's loss** follows the paper's eq. (3) (Redmon et al. 2016), which the notes do not write out.
# > * **The two-stage detector** of section 11 shares a frozen backbone with the one-stage one and uses it as the RPN; Faster R-CNN trains a separate RPN head and fine-tunes the backbone.

# %% [markdown]
# ## Written questions
#
# Answer each question in a few sentences, in your own words, in the cell below it (replace *YOUR ANSWER HERE*). They are graded by the course staff (6 points in all), not by the autograder: `course check` and `course grade` list them as awaiting manual grading.
#
# **Question 1** (2 points). What does the IoU threshold of non-maximum suppression trade off, and why is NMS run per class?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_nms_threshold", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** A low threshold removes duplicates aggressively but also suppresses genuinely overlapping objects (a crowd, people behind each other): lower recall. A high threshold keeps both true neighbours and duplicates: more false positives, lower precision. Per class, so that a confident box for one class (a person) never removes an overlapping box of another (the bicycle they ride).
#
# **Rubric (2 points).** 1 pt: the recall-vs-duplicates trade-off (crowds). 1 pt: different classes may overlap legitimately.
# ### END SOLUTION

# %% [markdown]
# **Question 2** (2 points). Faster R-CNN's RPN labels anchors positive at IoU ≥ 0.7 and negative below 0.3. Why are anchors in between ignored, and why is the best anchor of each object positive even below 0.7?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_anchor_ignore", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** An anchor with IoU 0.3–0.7 half covers an object: calling it object or background would be a noisy label, so it is left out of the loss. The best-anchor rule guarantees every ground-truth box at least one positive anchor — otherwise small or oddly shaped objects that no anchor overlaps by 0.7 would never be learned.
#
# **Rubric (2 points).** 1 pt: ambiguous anchors would be noisy labels. 1 pt: every object gets at least one positive.
# ### END SOLUTION

# %% [markdown]
# **Question 3** (2 points). Why are detectors evaluated with average precision over a ranked list instead of accuracy, and what does COCO's mAP@[.5:.95] reward that VOC's AP at IoU 0.5 does not?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_map", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** A detector outputs scored boxes; every score threshold gives another precision/recall pair, and the background has no countable true negatives, so accuracy is meaningless. AP is the area under the precision–recall curve: all thresholds at once. Averaging over IoU thresholds from 0.5 to 0.95 rewards tight localisation; at 0.5 a loose box counts as fully correct.
#
# **Rubric (2 points).** 1 pt: ranked scores / no true negatives, PR curve over all thresholds. 1 pt: averaging IoU thresholds rewards precise boxes.
# ### END SOLUTION
