"""The batch-norm explorer, driven headless: controls change ``.output``, buttons the running stats."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib.reference import norm  # noqa: E402
from course_lib.viz.norm import BatchNormExplorer  # noqa: E402


@pytest.fixture
def explorer():
    return BatchNormExplorer(num_channels=3, batch_size=32, seed=0)


def test_initial_state(explorer):
    ex = explorer
    assert ex.view.widget.value[:4] == b"\x89PNG"
    assert ex.batch.shape == ex.output.shape == (32, 3)
    np.testing.assert_allclose(ex.output.mean(axis=0), 0, atol=1e-12)  # train mode: batch statistics
    np.testing.assert_allclose(ex.output.std(axis=0), 1, atol=1e-4)
    np.testing.assert_array_equal(ex.running_mean, 0)
    np.testing.assert_array_equal(ex.running_var, 1)
    assert ex.steps == 0 and ex.error is None
    assert "running mean" in ex.info and "after 0 training step(s)" in ex.info
    assert "application/vnd.jupyter.widget-view+json" in ex._repr_mimebundle_()
    means = ex.batch.mean(axis=0)
    assert means.max() - means.min() > 1  # the channels really differ before BN


def test_train_mode_ignores_shift_and_scale_and_applies_gamma_beta(explorer):
    ex = explorer
    before = ex.output.copy()
    with ex.hold():
        ex.shift_slider.value, ex.scale_slider.value = 3.0, 2.5
    np.testing.assert_allclose(ex.output, before, atol=1e-3)  # BN undoes any shift/scale (up to eps)
    with ex.hold():
        ex.gamma_slider.value, ex.beta_slider.value = 2.0, -1.0
    np.testing.assert_allclose(ex.output.mean(axis=0), -1.0, atol=1e-9)
    np.testing.assert_allclose(ex.output.std(axis=0), 2.0, atol=1e-4)
    expected = norm.batch_norm(ex.batch, None, None, np.full(3, 2.0), np.full(3, -1.0), training=True)
    np.testing.assert_allclose(ex.output, expected)
    np.testing.assert_array_equal(ex.running_mean, 0)  # moving sliders never trains


def test_eval_mode_uses_running_stats_and_train_steps_update_them(explorer):
    ex = explorer
    ex.shift_slider.value = 2.0
    ex.mode_toggle.value = "eval"
    np.testing.assert_allclose(ex.output, ex.batch / np.sqrt(1 + 1e-5))  # running stats still (0, 1)
    ex.train_steps(20)
    assert ex.steps == 20 and "after 20 training step(s)" in ex.info
    rm, rv = np.zeros(3), np.ones(3)  # replay the same 20 batches with the reference
    for i in range(1, 21):
        x = ex._make_batch(ex._noise(i))
        norm.batch_norm(x, rm, rv, training=True, momentum=0.1)
    np.testing.assert_allclose(ex.running_mean, rm)
    np.testing.assert_allclose(ex.running_var, rv)
    np.testing.assert_allclose(ex.output, norm.batch_norm(ex.batch, rm, rv, training=False))
    assert abs(ex.output.mean()) < 0.5  # normalised again, roughly
    ex.shift_slider.value = -3.0  # the input drifts after training: eval output is off-centre
    assert ex.output.mean() < -1.0
    ex.reset()
    assert ex.steps == 0
    np.testing.assert_array_equal(ex.running_mean, 0)
    np.testing.assert_array_equal(ex.running_var, 1)


def test_momentum_controls_how_fast_running_mean_follows(explorer):
    ex = explorer
    ex.shift_slider.value = 4.0
    ex.momentum_slider.value = 1.0
    ex.train_steps(1)
    np.testing.assert_allclose(ex.running_mean, ex.batch.mean(axis=0))  # momentum 1: the last batch
    n = ex.batch_slider.value
    np.testing.assert_allclose(ex.running_var, ex.batch.var(axis=0) * n / (n - 1))  # unbiased
    ex.reset()
    ex.momentum_slider.value = 0.0
    ex.train_steps(5)
    np.testing.assert_array_equal(ex.running_mean, 0)


@pytest.mark.parametrize("dist", ["gaussian", "after ReLU", "skewed"])
def test_distributions_and_batch_size(explorer, dist):
    ex = explorer
    with ex.hold():
        ex.dist_dropdown.value = dist
        ex.batch_slider.value = 100
    assert ex.batch.shape == ex.output.shape == (100, 3)
    np.testing.assert_allclose(ex.output.mean(axis=0), 0, atol=1e-9)
    assert ex.error is None


def test_student_bn_fn_is_used_and_errors_are_reported():
    calls = []

    def my_bn(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
        calls.append(training)
        return norm.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)

    ex = BatchNormExplorer(bn_fn=my_bn, num_channels=2)
    assert calls == [True] and ex.output.shape == (32, 2)

    def broken(*args, **kwargs):
        raise NotImplementedError("not implemented yet")

    bad = BatchNormExplorer(bn_fn=broken)
    assert bad.output is None and isinstance(bad.error, NotImplementedError)
    assert "bn_fn raised NotImplementedError" in bad.info and "out mean" in bad.info
    bad.train_steps(3)  # the buttons report too, never raise
    assert isinstance(bad.error, NotImplementedError) and bad.output is None

    wrong_shape = BatchNormExplorer(bn_fn=lambda x, *a, **k: x[:, :1])
    assert wrong_shape.output is None and "returned shape (32, 1), expected (32, 3)" in wrong_shape.info


def test_buttons_and_arguments(tmp_path):
    ex = BatchNormExplorer(num_channels=6, batch_size=8)
    ex.steps_button.click()
    assert ex.steps == 20
    ex.step_button.click()
    assert ex.steps == 21
    ex.reset_button.click()
    assert ex.steps == 0
    ex.savefig(tmp_path / "bn.png")
    assert (tmp_path / "bn.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="num_channels"):
        BatchNormExplorer(num_channels=7)
    with pytest.raises(ValueError, match="batch_size"):
        BatchNormExplorer(batch_size=1)
