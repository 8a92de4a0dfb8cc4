"""ActivationExplorer driven headless: controls change the computed data, errors go to ``.info``."""

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib.reference import activations as act  # noqa: E402
from course_lib.viz.activations import ACTIVATIONS, INITS, ActivationExplorer, deep_stack  # noqa: E402


def _expected_stack(ex, name):
    """Forward/backward through the explorer's stack, written out independently of deep_stack."""
    forward, backward = getattr(act, name), getattr(act, f"{name}_backward")
    h, pre = ex._x, []
    weights = ex.weights()
    for w in weights:
        pre.append(h @ w)
        h = forward(pre[-1])
    stds = [forward(a).std() for a in pre]
    dh, grads = ex._dout, []
    for w, a in zip(reversed(weights), reversed(pre), strict=True):
        da = backward(dh, a)
        grads.append(np.abs(da).mean())
        dh = da @ w.T
    return np.array(stds), np.array(grads[::-1]), pre


@pytest.fixture(scope="module")
def explorer():
    return ActivationExplorer(activation="sigmoid", depth=6, width=32, batch=48)


def test_initial_state(explorer):
    ex = explorer
    assert ex.view.widget.value[:4] == b"\x89PNG"
    assert "application/vnd.jupyter.widget-view+json" in ex._repr_mimebundle_()
    np.testing.assert_allclose(ex.y, act.sigmoid(ex.x))
    np.testing.assert_allclose(ex.dy, act.sigmoid_backward(np.ones_like(ex.x), ex.x))
    assert ex.hist.shape == (6, 60) and ex.bin_edges.shape == (61,)
    np.testing.assert_allclose(ex.hist.sum(axis=1), 1.0)  # every activation lands in some bin
    assert ex.bin_edges[0] == 0.0 and ex.bin_edges[-1] == 1.0  # sigmoid's range
    stds, grads, _ = _expected_stack(ex, "sigmoid")
    np.testing.assert_allclose(ex.layer_std, stds)
    np.testing.assert_allclose(ex.grad_mean, grads)
    assert "sigmoid, 6 layers of 32 units" in ex.info
    assert ex.weight_std == pytest.approx(math.sqrt(1 / 32))  # Xavier by default


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_every_activation_matches_reference(explorer, name):
    ex = explorer
    ex.activation_dropdown.value = name
    forward, backward = getattr(act, name), getattr(act, f"{name}_backward")
    np.testing.assert_allclose(ex.y, forward(ex.x))
    np.testing.assert_allclose(ex.dy, backward(np.ones_like(ex.x), ex.x))
    stds, grads, pre = _expected_stack(ex, name)
    np.testing.assert_allclose(ex.layer_std, stds)
    np.testing.assert_allclose(ex.grad_mean, grads)
    np.testing.assert_allclose(ex.hist.sum(axis=1), 1.0)
    dead = np.mean([(a <= 0).all(axis=0).mean() for a in pre])
    assert ex.dead_fraction == pytest.approx(dead)
    assert ("units that are ≤ 0 for every input" in ex.info) == (name in ("relu", "leaky_relu"))


def test_depth_init_and_scale_controls(explorer):
    ex = explorer
    with ex.hold():
        ex.activation_dropdown.value = "relu"
        ex.init_dropdown.value = "he"
        ex.depth_slider.value = 12
        ex.scale_slider.value = 2.0
    assert ex.weight_std == pytest.approx(2.0 * math.sqrt(2 / 32))
    assert len(ex.weights()) == 12 and ex.hist.shape == (12, 60) and ex.grad_mean.shape == (12,)
    np.testing.assert_allclose(ex.weights()[0].std(), ex.weight_std, rtol=0.1)
    stds, grads, _ = _expected_stack(ex, "relu")
    np.testing.assert_allclose(ex.layer_std, stds)
    np.testing.assert_allclose(ex.grad_mean, grads)
    assert ex.layer_std[-1] > 100 * ex.layer_std[0]  # weights twice too large: the signal explodes
    ex.init_dropdown.value = "small"
    assert ex.weight_std == pytest.approx(0.02)
    with ex.hold():
        ex.init_dropdown.value, ex.scale_slider.value, ex.depth_slider.value = "xavier", 1.0, 6


def test_vanishing_gradient_is_visible():
    ex = ActivationExplorer(activation="sigmoid", depth=10, width=64, batch=64)
    assert ex.grad_mean[0] / ex.grad_mean[-1] < 1e-4  # sigmoid + Xavier: ~4x smaller per layer
    with ex.hold():
        ex.activation_dropdown.value, ex.init_dropdown.value = "relu", "he"
    assert 0.1 < ex.grad_mean[0] / ex.grad_mean[-1] < 10  # ReLU + He: the gradient survives
    ex.activation_dropdown.value = "tanh"
    ex.init_dropdown.value = "small"
    assert ex.layer_std[-1] < 1e-8  # tanh, std 0.01 weights: x0.08 per layer, the signal collapses to 0


def test_hold_batches_updates():
    ex = ActivationExplorer(depth=3, width=8, batch=8)
    calls = []
    original = ex.update
    ex.update = lambda: (calls.append(1), original())
    with ex.hold():
        ex.activation_dropdown.value = "tanh"
        ex.depth_slider.value = 5
        ex.scale_slider.value = 0.5
    assert len(calls) == 1 and ex.hist.shape == (5, 60)


def test_student_functions_are_used():
    calls = []

    def my_relu(x):
        calls.append(x.shape)
        return np.maximum(x, 0)

    ex = ActivationExplorer(activation="relu", fns={"relu": my_relu, "tanh": (np.tanh, act.tanh_backward)},
                            depth=4, width=16, batch=10)
    assert (401,) in calls and calls.count((10, 16)) >= 4
    np.testing.assert_allclose(ex.y, act.relu(ex.x))
    ex.activation_dropdown.value = "tanh"
    np.testing.assert_allclose(ex.y, np.tanh(ex.x))


def test_student_errors_are_reported_not_raised():
    def broken(x):
        raise NotImplementedError()

    def wrong_shape(dout, x):
        return dout[:1]

    ex = ActivationExplorer(activation="sigmoid", fns={"sigmoid": broken, "relu": (act.relu, wrong_shape)},
                            depth=3, width=8, batch=8)  # must not raise
    assert ex.y is None and ex.hist is None and isinstance(ex.error, NotImplementedError)
    assert "sigmoid raised NotImplementedError" in ex.info
    ex.activation_dropdown.value = "relu"
    assert ex.error is not None and "the backward function returned shape" in ex.info
    ex.activation_dropdown.value = "tanh"  # the references still work
    assert ex.error is None and ex.hist is not None


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        ActivationExplorer(activation="swish")
    with pytest.raises(ValueError, match="unknown init 'lecun'"):
        ActivationExplorer(init="lecun")
    with pytest.raises(ValueError, match="unknown activation 'softplus' in fns"):
        ActivationExplorer(fns={"softplus": np.tanh})
    with pytest.raises(ValueError, match=r"fns\['relu'\] must be a forward function"):
        ActivationExplorer(fns={"relu": (act.relu,)})
    assert set(INITS) == {"xavier", "he", "small"}


def test_deep_stack_shapes_and_chain_rule():
    rng = np.random.default_rng(0)
    x, dout = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    weights = [rng.standard_normal((4, 4)) for _ in range(3)]
    pre, post, grads = deep_stack(act.tanh, act.tanh_backward, x, weights, dout)
    assert len(pre) == len(post) == len(grads) == 3
    np.testing.assert_allclose(post[-1], np.tanh(np.tanh(np.tanh(x @ weights[0]) @ weights[1]) @ weights[2]))
    np.testing.assert_allclose(grads[-1], dout * (1 - post[-1] ** 2))
    np.testing.assert_allclose(grads[1], (grads[2] @ weights[2].T) * (1 - post[1] ** 2))


def test_savefig(tmp_path):
    ex = ActivationExplorer(depth=2, width=8, batch=8)
    ex.savefig(tmp_path / "explorer.png")
    assert (tmp_path / "explorer.png").read_bytes()[:4] == b"\x89PNG"
