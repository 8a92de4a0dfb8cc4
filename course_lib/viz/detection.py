"""The anchor / NMS playground of Chapter 10.

Left: an image of :func:`course_lib.data.shapes_detection` with its ground-truth boxes, the K anchors
at a chosen feature-map location, and every anchor labelled positive for some ground truth,
coloured by its IoU. Right: candidate detections before NMS (grey) and the boxes that survive the
score threshold and per-class NMS (coloured by class).
"""

from __future__ import annotations

import numpy as np

from course_lib import data
from course_lib.viz._common import ControlPanel, FigureView, format_error, int_slider

__all__ = ["AnchorNMSPlayground", "jittered_candidates"]


def _reference():
    """``course_lib.reference.detection``, imported when a widget first draws, not with this module: widgets
    are tools and import without the answers (the grader's judge process has none)."""
    from course_lib.reference import detection

    return detection


_CLASS_COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple")


def _float_slider(description, lo, hi, value, step):
    import ipywidgets as widgets

    return widgets.FloatSlider(value=value, min=lo, max=hi, step=step, description=description,
                               continuous_update=False, readout_format=".2f",
                               style={"description_width": "110px"}, layout=widgets.Layout(width="330px"))


def jittered_candidates(gt_boxes, gt_labels, seed=0, per_box=6, false_positives=3, size=48):
    """Fake raw detector output: noisy copies of each ground-truth box plus a few false positives.

    Returns:
        (boxes (D, 4), scores (D,), labels (D,)), seeded.
    """
    rng = np.random.default_rng(seed)
    boxes, scores, labels = [], [], []
    for box, label in zip(np.asarray(gt_boxes, dtype=float).reshape(-1, 4), gt_labels, strict=True):
        side = box[2] - box[0]
        for k in range(per_box):
            boxes.append(box + rng.normal(0, 0.12 * side, size=4))
            scores.append(float(np.clip(0.95 - 0.12 * k + rng.normal(0, 0.05), 0.01, 1)))
            labels.append(int(label) if rng.random() > 0.15 else int(rng.integers(0, 3)))
    for _ in range(false_positives):
        x, y = rng.uniform(0, size - 14, size=2)
        boxes.append(np.array([x, y, x + 12, y + 12]))
        scores.append(float(rng.uniform(0.05, 0.5)))
        labels.append(int(rng.integers(0, 3)))
    boxes = np.array(boxes).reshape(-1, 4)
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    return boxes, np.array(scores), np.array(labels, dtype=np.int64)


class AnchorNMSPlayground(ControlPanel):
    """Anchors, anchor matching and NMS on the synthetic shapes.

    Args:
        images, coco: data as returned by :func:`course_lib.data.shapes_detection` (default: 8 images).
        candidates: optional ``candidates(index) -> (boxes, scores, labels)`` giving raw detections for
            image ``index`` (e.g. a trained detector before NMS); default :func:`jittered_candidates`.
        stride, sizes, ratios: the anchors (see :func:`course_lib.reference.detection.rpn_anchors`).
        pos_threshold, neg_threshold: IoU thresholds of :func:`course_lib.reference.detection.match_anchors`.
        nms_fn: the NMS used, ``nms_fn(boxes, scores, labels, iou_threshold)`` (yours, e.g. batched_nms).
    """

    def __init__(self, images=None, coco=None, candidates=None, stride=4, sizes=(12, 20), ratios=(0.5, 1.0, 2.0),
                 pos_threshold=0.5, neg_threshold=0.4, nms_fn=None):
        import ipywidgets as widgets

        super().__init__()
        if images is None:
            images, coco = data.shapes_detection(8, seed=3)
        self.images, self.coco = images, coco
        self.size = images.shape[-1]
        self.stride, self.grid = stride, self.size // stride
        self.anchors = _reference().rpn_anchors((self.grid, self.grid), stride, sizes, ratios)  # (G·G·K, 4)
        self.k = len(sizes) * len(ratios)
        self.thresholds = (pos_threshold, neg_threshold)
        self._candidates = candidates
        self.nms_fn = nms_fn or _reference().batched_nms
        n = len(images)
        self.image_slider = int_slider("image", 0, n - 1, 0)
        self.row_slider = int_slider("anchor row", 0, self.grid - 1, self.grid // 2)
        self.col_slider = int_slider("anchor col", 0, self.grid - 1, self.grid // 2)
        self.iou_slider = _float_slider("NMS IoU thresh.", 0.05, 1.0, 0.5, 0.05)
        self.score_slider = _float_slider("score thresh.", 0.0, 1.0, 0.3, 0.05)
        self._watch(self.image_slider, self.row_slider, self.col_slider, self.iou_slider, self.score_slider)
        self.view = FigureView((9.0, 4.6))
        self.ax_anchor, self.ax_nms = self.view.figure.subplots(1, 2)
        self.view.figure.subplots_adjust(left=0.02, right=0.98, top=0.9, bottom=0.02, wspace=0.06)
        left = widgets.VBox([self.image_slider, self.row_slider, self.col_slider])
        right = widgets.VBox([self.iou_slider, self.score_slider])
        self.widget = widgets.VBox([widgets.HBox([left, right]), self.view.widget, self.info_widget])
        self.update()

    def ground_truth(self, index):
        """(boxes (G, 4) xyxy, labels (G,) 0-based) of image ``index``."""
        anns = [a for a in self.coco["annotations"] if a["image_id"] == self.coco["images"][index]["id"]]
        xywh = np.array([a["bbox"] for a in anns], dtype=float).reshape(-1, 4)
        boxes = _reference().box_convert(xywh, "xywh", "xyxy")
        return boxes, np.array([a["category_id"] - 1 for a in anns], dtype=np.int64)

    def candidates(self, index):
        """Raw detections (boxes, scores, labels) of image ``index`` before NMS."""
        if self._candidates is not None:
            return self._candidates(index)
        gt, labels = self.ground_truth(index)
        return jittered_candidates(gt, labels, seed=index, size=self.size)

    def update(self):
        i = self.image_slider.value
        img = np.clip(self.images[i].transpose(1, 2, 0), 0, 1)
        gt, gt_labels = self.ground_truth(i)
        self.labels, self.matched = _reference().match_anchors(self.anchors, gt, *self.thresholds)
        iou = _reference().box_iou(self.anchors, gt).max(axis=1) if len(gt) else np.zeros(len(self.anchors))
        cell = (self.row_slider.value * self.grid + self.col_slider.value) * self.k
        self.cell_anchors = self.anchors[cell:cell + self.k]
        boxes, scores, labels = self.candidates(i)
        self.error = None
        try:
            above = np.flatnonzero(scores >= self.score_slider.value)
            keep = np.asarray(self.nms_fn(boxes[above], scores[above], labels[above], self.iou_slider.value))
            self.kept = above[keep.astype(np.int64)]
        except Exception as exc:  # a student's nms_fn may fail: show it, keep the widget alive
            self.error, self.kept = exc, np.zeros(0, dtype=np.int64)
        self._draw(img, gt, gt_labels, iou, boxes, scores, labels)

    def _draw(self, img, gt, gt_labels, iou, boxes, scores, labels):
        from matplotlib import cm
        from matplotlib.patches import Rectangle

        ax, bx = self.ax_anchor, self.ax_nms
        for a in (ax, bx):
            a.clear()
            a.imshow(img, extent=(0, self.size, self.size, 0))
            a.set_xlim(-8, self.size + 8)
            a.set_ylim(self.size + 8, -8)
            a.set_axis_off()

        def rect(a, b, **kw):
            a.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, **kw))

        pos = np.flatnonzero(self.labels == 1)
        for j in pos:
            rect(ax, self.anchors[j], edgecolor=cm.viridis(iou[j]), lw=1.2)
        for b in gt:
            rect(ax, b, edgecolor="white", lw=2, ls="--")
        for b in self.cell_anchors:
            rect(ax, b, edgecolor="yellow", lw=1)
        ax.set_title(f"{len(pos)} positive anchors (colour = IoU), {self.k} anchors at the yellow cell", fontsize=9)
        for j in np.setdiff1d(np.arange(len(boxes)), self.kept):
            rect(bx, boxes[j], edgecolor="0.6", lw=0.7)
        for j in self.kept:
            c = _CLASS_COLOURS[int(labels[j]) % len(_CLASS_COLOURS)]
            rect(bx, boxes[j], edgecolor=c, lw=2)
            bx.text(boxes[j][0], boxes[j][1] - 1, f"{scores[j]:.2f}", color=c, fontsize=7)
        bx.set_title(f"{len(boxes)} candidates → {len(self.kept)} kept", fontsize=9)
        self.view.refresh()
        n_neg, n_ign = int((self.labels == 0).sum()), int((self.labels == -1).sum())
        msg = (f"{len(self.anchors)} anchors: {len(pos)} positive, {n_ign} ignored, {n_neg} background "
               f"(IoU ≥ {self.thresholds[0]} / &lt; {self.thresholds[1]}). NMS kept {len(self.kept)} of "
               f"{int((scores >= self.score_slider.value).sum())} boxes above the score threshold.")
        if self.error is not None:
            msg = format_error(self.error, "nms_fn") + "<br>" + msg
        self.info_widget.value = msg
