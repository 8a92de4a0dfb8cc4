"""YOLO v1's loss (Redmon et al. 2016, eq. 3): the reference against a cell-by-cell loop and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.reference.detection import yolo_v1_loss
from course_lib.testing import check


def yolo_loss_loop(pred, target, B=2, l_coord=5.0, l_noobj=0.5):
    """Eq. (3) written out with Python floats, one image, cell and box at a time."""
    N, S = pred.shape[:2]
    total = 0.0
    for n in range(N):
        for i in range(S):
            for j in range(S):
                x, y, w, h, obj = (float(v) for v in target[n, i, j, :5])
                boxes = [pred[n, i, j, 5 * b:5 * b + 5] for b in range(B)]
                ious = []
                for px, py, psw, psh, _ in boxes:
                    pw, ph = psw * psw, psh * psh
                    ax1, ay1 = (j + px) / S - pw / 2, (i + py) / S - ph / 2
                    gx1, gy1 = (j + x) / S - w / 2, (i + y) / S - h / 2
                    iw = max(0.0, min(ax1 + pw, gx1 + w) - max(ax1, gx1))
                    ih = max(0.0, min(ay1 + ph, gy1 + h) - max(ay1, gy1))
                    union = pw * ph + w * h - iw * ih
                    ious.append(iw * ih / union if union > 0 else 0.0)
                best = max(range(B), key=lambda b: (ious[b], -b)) if obj else -1  # first on ties
                for b, (px, py, psw, psh, conf) in enumerate(boxes):
                    if b == best:
                        total += l_coord * ((px - x) ** 2 + (py - y) ** 2)
                        total += l_coord * ((psw - w ** 0.5) ** 2 + (psh - h ** 0.5) ** 2)
                        total += (conf - ious[b]) ** 2
                    else:
                        total += l_noobj * conf ** 2
                if obj:
                    total += sum((float(a) - float(c)) ** 2 for a, c in zip(pred[n, i, j, 5 * B:], target[n, i, j, 5:],
                                                                             strict=True))
    return total / N


def random_target(rng, N, S, C, p_obj=0.4):
    t = np.zeros((N, S, S, 5 + C))
    obj = rng.random((N, S, S)) < p_obj
    t[..., :2] = rng.random((N, S, S, 2))
    t[..., 2:4] = rng.uniform(0.05, 0.9, size=(N, S, S, 2))
    t[..., 4] = obj
    t[..., 5:] = np.eye(C)[rng.integers(0, C, size=(N, S, S))]
    t[~obj] = 0.0
    return t


@settings(deadline=None, max_examples=30)
@given(st.integers(0, 2**31 - 1), st.integers(1, 3), st.integers(1, 4), st.integers(1, 3), st.integers(1, 4))
def test_yolo_v1_loss_matches_the_loop(seed, N, S, B, C):
    rng = np.random.default_rng(seed)
    pred = rng.random((N, S, S, 5 * B + C))
    target = random_target(rng, N, S, C)
    assert yolo_v1_loss(pred, target, B) == pytest.approx(yolo_loss_loop(pred, target, B), rel=1e-12, abs=1e-12)
    assert yolo_v1_loss(pred, target, B, 1.0, 1.0) == pytest.approx(yolo_loss_loop(pred, target, B, 1.0, 1.0),
                                                                    rel=1e-12, abs=1e-12)


def hand_case(x0=0.5):
    """S = 1, B = 2, C = 1: a 0.25 × 0.25 object in the middle; box 0 fits it, box 1 is a 0.09 × 0.09 box inside."""
    target = np.array([[[[0.5, 0.5, 0.25, 0.25, 1.0, 1.0]]]])
    pred = np.array([[[[x0, 0.5, 0.5, 0.5, 0.8, 0.5, 0.5, 0.3, 0.3, 0.6, 0.7]]]])
    return pred, target


def test_yolo_v1_loss_hand_computed():
    # box 0 has IoU 1 and is responsible: coord 0, conf (0.8 − 1)² = 0.04; box 1: 0.5 · 0.6² = 0.18;
    # class (0.7 − 1)² = 0.09
    assert yolo_v1_loss(*hand_case()) == pytest.approx(0.04 + 0.18 + 0.09)
    # shift box 0 by 0.1 of the cell: IoU = 0.0375 / 0.0875 = 3/7, still above box 1's 0.0081 / 0.0625
    assert yolo_v1_loss(*hand_case(0.6)) == pytest.approx(5 * 0.01 + (0.8 - 3 / 7) ** 2 + 0.18 + 0.09)
    # without an object only the no-object confidence term remains: 0.5 · (0.8² + 0.6²)
    pred, target = hand_case()
    assert yolo_v1_loss(pred, np.zeros_like(target)) == pytest.approx(0.5 * (0.64 + 0.36))
    # the batch mean: two copies cost the same as one
    assert yolo_v1_loss(np.concatenate([pred] * 2), np.concatenate([target] * 2)) == pytest.approx(0.31)


def test_yolo_v1_loss_square_roots_weigh_small_boxes_more():
    # the same 0.05 error in width costs more on a small box than on a large one
    def err(w):
        t = np.array([[[[0.5, 0.5, w, w, 1.0, 1.0]]]])
        p = np.array([[[[0.5, 0.5, np.sqrt(w + 0.05), np.sqrt(w), 1.0, 1.0]]]])
        return yolo_v1_loss(p, t, 1)

    assert err(0.1) > 3 * err(0.8)


def test_yolo_v1_loss_bad_shapes():
    with pytest.raises(ValueError, match="pred"):
        yolo_v1_loss(np.zeros((1, 7, 7, 10)), np.zeros((1, 7, 7, 5)))
    with pytest.raises(ValueError, match="target"):
        yolo_v1_loss(np.zeros((1, 7, 7, 30)), np.zeros((1, 7, 7, 30)))


def test_the_exercise_passes_the_reference_and_catches_a_wrong_confidence_target():
    import dataclasses

    from course_lib.testing import EXERCISES, CheckFailure, run_exercise

    ex = dataclasses.replace(EXERCISES["yolo_v1_loss"], forbid=())
    assert run_exercise(ex, ex.reference, quiet=True) > 0

    def conf_target_one(pred, target, num_boxes=2, lambda_coord=5.0, lambda_noobj=0.5):
        return yolo_loss_loop(pred, target, num_boxes, lambda_coord, lambda_noobj) + 0.01

    with pytest.raises(CheckFailure):
        check("yolo_v1_loss", conf_target_one)
