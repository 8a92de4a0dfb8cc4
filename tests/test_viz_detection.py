"""The anchor / NMS playground, driven headless: sliders change the anchors shown and the kept boxes."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib.reference import detection  # noqa: E402
from course_lib.viz.detection import AnchorNMSPlayground  # noqa: E402


@pytest.fixture(scope="module")
def playground():
    return AnchorNMSPlayground(stride=4, sizes=(12, 20), ratios=(1.0,))


def test_initial_state(playground):
    pg = playground
    assert pg.view.widget.value[:4] == b"\x89PNG"
    assert pg.anchors.shape == (12 * 12 * 2, 4) and pg.cell_anchors.shape == (2, 4)
    gt, _ = pg.ground_truth(0)
    assert (pg.labels == 1).sum() >= len(gt) and pg.error is None
    assert "positive" in pg.info and "NMS kept" in pg.info
    assert "application/vnd.jupyter.widget-view+json" in pg._repr_mimebundle_()


def test_nms_threshold_and_score_threshold_change_the_kept_boxes(playground):
    pg = playground
    boxes, scores, labels = pg.candidates(pg.image_slider.value)
    with pg.hold():
        pg.iou_slider.value, pg.score_slider.value = 1.0, 0.0
    assert len(pg.kept) == len(boxes)  # threshold 1: nothing is suppressed
    png = pg.view.widget.value
    pg.iou_slider.value = 0.3
    np.testing.assert_array_equal(np.sort(pg.kept), np.sort(detection.batched_nms(boxes, scores, labels, 0.3)))
    assert len(pg.kept) < len(boxes) and pg.view.widget.value != png
    pg.score_slider.value = 0.9
    assert np.all(scores[pg.kept] >= 0.9)


def test_location_and_image_sliders_move_the_anchors(playground):
    pg = playground
    before = pg.cell_anchors.copy()
    pg.col_slider.value = pg.col_slider.value + 1
    np.testing.assert_allclose(pg.cell_anchors - before, [[4.0, 0, 4, 0]] * 2)
    labels = pg.labels.copy()
    pg.image_slider.value = 1
    assert not np.array_equal(labels, pg.labels)


def test_a_failing_nms_fn_is_reported_not_raised():
    def broken(boxes, scores, labels, thr):
        raise RuntimeError("not yet")

    pg = AnchorNMSPlayground(nms_fn=broken)
    assert isinstance(pg.error, RuntimeError) and "not yet" in pg.info and len(pg.kept) == 0
