"""The GAN training monitor, driven headless: snapshots feed it, the slider replays them."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib import data  # noqa: E402
from course_lib.gan_experiments import train_ring_gan  # noqa: E402
from course_lib.viz.gan import GANMonitor, _mosaic, _smooth  # noqa: E402


def _feed(monitor, n_snapshots=3, kind="points"):
    rng = np.random.default_rng(0)
    hist = {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": []}
    centers = data.ring_centers()
    for i in range(n_snapshots):
        for key in hist:
            hist[key] += list(rng.random(10))
        if kind == "points":  # first collapsed on one mode, then the whole ring
            samples = data.sample_ring(200, rng=i) if i else centers[[0]] + 0.01 * rng.standard_normal((200, 2))
        else:
            samples = rng.random((40, 1, 8, 8))
        monitor.record(10 * (i + 1), samples, **hist)
    return hist


def test_empty_monitor_draws_and_says_so():
    m = GANMonitor()
    assert m.view.widget.value[:4] == b"\x89PNG"
    assert "no snapshots" in m.info and m.coverage() is None
    assert "application/vnd.jupyter.widget-view+json" in m._repr_mimebundle_()


def test_points_snapshots_and_slider_replay():
    m = GANMonitor(centers=data.ring_centers(), std=0.05, min_interval=0.0)
    _feed(m)
    assert len(m.snapshots) == 3 and m.snapshot_slider.max == 2 and m.snapshot_slider.value == 2
    assert [s["upto"] for s in m.snapshots] == [10, 20, 30]
    assert "step 30 (snapshot 3 of 3)" in m.info and "modes covered 8/8" in m.info
    last = m.view.widget.value
    m.snapshot_slider.value = 0
    assert "step 10" in m.info and "modes covered 1/8" in m.info
    assert m.view.widget.value != last           # the picture changed with the slider
    assert m.coverage(index=0)[1] == 1 and m.coverage(index=2)[1] == 8


def test_throttled_redraws_then_finish_shows_the_last():
    m = GANMonitor(min_interval=1e9)
    first = m.view.widget.value
    _feed(m, 4)
    assert m.view.widget.value == first          # too soon: no redraw while "training"
    assert m.snapshot_slider.value == 3
    m.snapshot_slider.value = 1                  # a slider move always redraws
    assert "step 20" in m.info
    m.finish()
    assert "step 40" in m.info and m.view.widget.value != first


def test_images_kind(tmp_path):
    m = GANMonitor(kind="images", title="DCGAN", max_images=16, min_interval=0.0)
    _feed(m, 2, kind="images")
    assert m.snapshots[-1]["samples"].shape == (16, 1, 8, 8)
    assert "step 20" in m.info and "modes" not in m.info
    m.savefig(tmp_path / "gan.png")
    assert (tmp_path / "gan.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        GANMonitor(kind="video")
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        GANMonitor().record(1, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="images"):
        GANMonitor(kind="images").record(1, np.zeros((5, 64)))


def test_helpers():
    np.testing.assert_allclose(_smooth([1, 3, 5, 7], 2), [1, 2, 4, 6])
    mosaic = _mosaic(np.ones((3, 1, 2, 2)), ncols=2)
    assert mosaic.shape == (5, 5) and np.isnan(mosaic[2]).all() and np.isnan(mosaic[3:, 3:]).all()


def test_a_training_loop_feeds_the_monitor():
    m = GANMonitor(centers=data.ring_centers(), std=0.05, min_interval=1e9)
    run = train_ring_gan(steps=30, hidden=16, batch_size=32, monitor=m, every=10, progress=False)
    assert [s["step"] for s in m.snapshots] == [1, 10, 20, 30]
    assert len(m.history["d_loss"]) == len(run.d_loss) == 30
    assert m.snapshots[-1]["samples"].shape == (512, 2)
