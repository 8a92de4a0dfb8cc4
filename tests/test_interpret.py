"""course_lib.reference.interpret against independent computations (loops, finite differences, identities),
its errors, and the Chapter-9 check specs against plausible wrong answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.gradcheck import rel_error
from course_lib.reference import interpret
from course_lib.reference.mlp import numerical_gradient
from course_lib.testing import CheckFailure, check
from course_lib.testing.interpret import small_cnn

torch.set_num_threads(1)


def _x(seed, n, c, h, w=None, dtype=np.float32):
    return np.random.default_rng(seed).random((n, c, h, h if w is None else w)).astype(dtype)


@settings(deadline=None, max_examples=20)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 3), c=st.sampled_from([1, 3]), h=st.integers(4, 10))
def test_saliency_matches_per_example_gradients(seed, n, c, h):
    model, x = small_cnn(seed, in_channels=c), _x(seed, n, c, h)
    target = np.random.default_rng(seed).integers(0, 3, size=n)
    got = interpret.saliency_map(model, x, target)
    for i in range(n):   # one image at a time, torch.autograd directly
        xi = torch.tensor(x[i:i + 1], requires_grad=True)
        model(xi)[0, target[i]].backward()
        np.testing.assert_allclose(got[i], xi.grad.abs().amax(dim=1)[0].numpy(), rtol=1e-5, atol=1e-7)


def test_saliency_matches_numerical_gradient_in_float64():
    model = small_cnn(3).double()
    x = _x(0, 2, 1, 6, dtype=np.float64)
    target = np.array([2, 0])
    grad = numerical_gradient(lambda z: model(torch.from_numpy(z)).detach().numpy()[[0, 1], target].sum(), x)
    assert rel_error(interpret.saliency_map(model, x, target), np.abs(grad).max(axis=1)) < 1e-7


@settings(deadline=None, max_examples=15)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 3), size=st.sampled_from([8, 12, 16]))
def test_cam_identity_and_grad_cam_equals_relu_cam_on_a_gap_network(seed, n, size):
    torch.manual_seed(seed)
    model = interpret.GapNet(num_classes=5, width=8).eval()
    x = _x(seed, n, 1, size)
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).numpy()
    target = logits.argmax(1)
    feats = interpret.feature_maps(model, x, ["features"])["features"]
    w, b = model.fc.weight.detach().numpy(), model.fc.bias.detach().numpy()
    cam = interpret.class_activation_map(feats, w, target)
    np.testing.assert_allclose(cam.mean(axis=(1, 2)) + b[target], logits[np.arange(n), target], atol=1e-5)
    hw = cam.shape[1] * cam.shape[2]
    np.testing.assert_allclose(interpret.grad_cam(model, "features", x), np.maximum(cam, 0) / hw, atol=1e-6)


def test_activations_and_gradients_match_finite_differences_through_the_rest_of_the_network():
    model = small_cnn(5).double()
    x = _x(1, 2, 1, 8, dtype=np.float64)
    target = np.array([1, 2])
    A, dA = interpret.activations_and_gradients(model, model[3], x, target)
    assert A.shape == dA.shape == (2, 6, 4, 4)
    head = model[4:]  # the layers after model[3]
    num = numerical_gradient(lambda a: head(torch.from_numpy(a)).detach().numpy()[[0, 1], target].sum(), A.copy())
    assert rel_error(dA, num) < 1e-7


@settings(deadline=None, max_examples=15)
@given(seed=st.integers(0, 10_000), h=st.integers(5, 9), w=st.integers(5, 9), patch=st.integers(1, 4),
       stride=st.integers(1, 3), fill=st.sampled_from([0.0, 0.5]))
def test_occlusion_matches_one_forward_per_position(seed, h, w, patch, stride, fill):
    model, x = small_cnn(seed), _x(seed, 2, 1, h, w)
    got = interpret.occlusion_sensitivity(model, x, None, patch, stride, fill)
    assert got.shape == (2, (h - patch) // stride + 1, (w - patch) // stride + 1)
    with torch.no_grad():
        p = model(torch.from_numpy(x)).softmax(1).numpy()
        t = p.argmax(1)
        for i in range(got.shape[1]):
            for j in range(got.shape[2]):
                occ = x.copy()
                occ[:, :, i * stride:i * stride + patch, j * stride:j * stride + patch] = fill
                q = model(torch.from_numpy(occ)).softmax(1).numpy()
                np.testing.assert_allclose(got[:, i, j], p[[0, 1], t] - q[[0, 1], t], atol=1e-6)


def test_feature_maps_match_slicing_a_sequential_and_remove_their_hooks():
    model, x = small_cnn(2), _x(2, 2, 1, 8)
    maps = interpret.feature_maps(model, x, ["2", "4"])
    with torch.no_grad():
        np.testing.assert_allclose(maps["2"], model[:3](torch.from_numpy(x)).numpy())
        np.testing.assert_allclose(maps["4"], model[:5](torch.from_numpy(x)).numpy())
    assert all(not m._forward_hooks for m in model.modules())


def test_normalize_and_upsample():
    m = np.stack([np.arange(12.0).reshape(3, 4), np.full((3, 4), 2.0)])
    out = interpret.normalize_heatmap(m)
    assert out[0].min() == 0 and out[0].max() == 1 and not out[1].any()
    up = interpret.upsample_heatmap(m, 8)
    assert up.shape == (2, 8, 8)
    np.testing.assert_allclose(up[1], 2.0)


@pytest.mark.parametrize("call, match", [
    (lambda m, x: interpret.saliency_map(m, x[0]), r"\(N, C, H, W\)"),
    (lambda m, x: interpret.saliency_map(m, x, np.array([0])), r"target must have shape \(2,\)"),
    (lambda m, x: interpret.saliency_map(m, x, np.array([0, 7])), r"in 0\.\.2"),
    (lambda m, x: interpret.feature_maps(m, x, ["nope"]), "no layer"),
    (lambda m, x: interpret.grad_cam(m, "nope", x), "no layer"),
    (lambda m, x: interpret.occlusion_sensitivity(m, x, patch_size=9), "patch_size"),
    (lambda m, x: interpret.class_activation_map(np.ones((2, 3, 4, 4)), np.ones((5, 2)), [0, 1]),
     r"\(num_classes, 3\)"),
    (lambda m, x: interpret.grad_cam_map(np.ones((2, 3, 4, 4)), np.ones((2, 3, 4, 5))), "same shape"),
])
def test_bad_input_raises_a_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call(small_cnn(0), _x(0, 2, 1, 8))


# --------------------------------------------------------------------------- the check specs

def _saliency_without_abs(model, x, target=None):
    xt = torch.tensor(x, requires_grad=True)
    logits = model(xt)
    t = logits.argmax(1) if target is None else torch.as_tensor(target)
    logits[torch.arange(len(xt)), t].sum().backward()
    return xt.grad.amax(dim=1).numpy()


def _cam_class_zero(features, fc_weight, target):
    return np.einsum("k,nkhw->nhw", fc_weight[0], features).astype(features.dtype)


def _grad_cam_with_sum(activations, gradients):
    alpha = gradients.sum(axis=(2, 3))
    return np.maximum(np.einsum("nk,nkhw->nhw", alpha, activations), 0).astype(activations.dtype)


def _occlusion_returning_tensor(model, x, target=None, patch_size=4, stride=2, fill=0.0):
    return torch.zeros(len(x), (x.shape[2] - patch_size) // stride + 1, (x.shape[3] - patch_size) // stride + 1)


def _feature_maps_keeping_hooks(model, x, names):
    out = {}
    modules = dict(model.named_modules())
    for name in names:
        modules[name].register_forward_hook(lambda m, i, o, name=name: out.setdefault(name, o.detach().numpy()))
    model(torch.as_tensor(x))
    return out


@pytest.mark.parametrize("name, fn, match", [
    ("saliency_map", _saliency_without_abs, "values are wrong"),
    ("class_activation_map", _cam_class_zero, "values are wrong"),
    ("grad_cam_map", _grad_cam_with_sum, "values are wrong"),
    ("occlusion_sensitivity", _occlusion_returning_tensor, "torch Tensor; return a numpy array"),
    ("normalize_heatmap", lambda m: m / m.max(), r"values are wrong|NaN"),
])
def test_checks_explain_wrong_answers(name, fn, match):
    with pytest.raises(CheckFailure, match=match):
        check(name, fn)


def test_a_hook_that_returns_a_value_is_reported():
    # a forward hook that returns something replaces the layer's output: here a numpy array
    with pytest.raises(CheckFailure, match="raised TypeError"):
        check("collect_feature_maps", _feature_maps_keeping_hooks)


def test_the_reference_is_switched_off_but_torch_is_allowed():
    with pytest.raises(CheckFailure, match="switched off"):
        check("saliency_map", interpret.saliency_map)

    def uses_reference(model, x, target=None):
        return interpret.saliency_map(model, x, target)

    with pytest.raises(CheckFailure, match="course_lib.reference.interpret"):
        check("saliency_map", uses_reference)


@pytest.mark.slow
def test_cam_of_a_gap_net_trained_on_the_shapes_points_at_the_object():
    """Chapter 9's localisation experiment, with tolerant bounds (the notebook asserts nothing about training):
    the CAM peak of a GAP network trained with labels only falls inside the object's box far more often
    than a random point does."""
    import torch.nn.functional as F

    from course_lib.data import shapes_classification
    from course_lib.train import fit

    X, y, boxes = shapes_classification(500, seed=1)
    torch.manual_seed(0)
    net = interpret.GapNet(num_classes=3, in_channels=3, width=16)
    fit(net, (X[:400], y[:400]), epochs=3, batch_size=32, lr=3e-3, progress=False)
    net.eval()
    x_te, box_te = X[400:], boxes[400:]
    with torch.no_grad():
        feats = net.features(torch.as_tensor(x_te))
        pred = net.fc(feats.mean((2, 3))).argmax(1).numpy()
    cam = interpret.class_activation_map(feats.numpy(), net.fc.weight.detach().numpy(), pred)  # (N, 24, 24)
    cam48 = F.interpolate(torch.as_tensor(cam)[:, None], size=(48, 48), mode="bilinear", align_corners=False)[:, 0]
    rows, cols = np.unravel_index(cam48.reshape(len(cam48), -1).argmax(1).numpy(), (48, 48))
    inside = ((box_te[:, 0] <= cols + 0.5) & (cols + 0.5 <= box_te[:, 2])
              & (box_te[:, 1] <= rows + 0.5) & (rows + 0.5 <= box_te[:, 3]))
    random_share = np.mean((box_te[:, 2] - box_te[:, 0]) * (box_te[:, 3] - box_te[:, 1]) / 48**2)
    assert random_share < 0.25
    assert inside.mean() > 0.6, inside.mean()
