"""course_lib.reference.mlp against torch (forward and autograd), numerical gradients, the perceptron's
convergence theorem, a digits run, the input errors, and Chapter 1's exercise specs."""

import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import data
from course_lib.data import digits_split
from course_lib.gradcheck import gradcheck
from course_lib.reference import mlp
from course_lib.testing import CheckFailure, ForbiddenError, check, hidden_check

seeds = st.integers(0, 2**32 - 1)


# --- affine -------------------------------------------------------------------------------------


@st.composite
def affine_cases(draw):
    """(x, weight, bias or None) with x of shape (..., D_in): 0 to 2 leading dimensions."""
    lead = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=2)))
    d_in, d_out = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(seeds))
    bias = rng.standard_normal(d_out) if draw(st.booleans()) else None
    return rng.standard_normal((*lead, d_in)), rng.standard_normal((d_out, d_in)), bias


@settings(max_examples=60, deadline=None)
@given(case=affine_cases(), seed=seeds)
def test_affine_and_backward_match_f_linear_and_autograd(case, seed):
    x, w, b = case
    xt, wt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    bt = None if b is None else torch.from_numpy(b).requires_grad_()
    out = F.linear(xt, wt, bt)
    np.testing.assert_allclose(mlp.affine(x, w, b), out.detach().numpy(), rtol=1e-10, atol=1e-12)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(torch.from_numpy(dout))
    dx, dw, db = mlp.affine_backward(dout, x, w, b)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dw, wt.grad.numpy(), rtol=1e-10, atol=1e-12)
    if b is None:
        assert db is None
    else:
        np.testing.assert_allclose(db, bt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_affine_gradcheck():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((4, 5)), rng.standard_normal((3, 5)), rng.standard_normal(3)
    dout = rng.standard_normal((4, 3))
    dx, dw, db = mlp.affine_backward(dout, x, w, b)
    errors = gradcheck(mlp.affine, {"x": x, "weight": w, "bias": b}, {"x": dx, "weight": dw, "bias": db}, dout)
    assert max(errors.values()) < 1e-7, errors


def test_affine_float32_stays_float32():
    x, w, b = np.ones((2, 3), np.float32), np.ones((4, 3), np.float32), np.ones(4, np.float32)
    assert mlp.affine(x, w, b).dtype == np.float32
    assert all(g.dtype == np.float32 for g in mlp.affine_backward(np.ones((2, 4), np.float32), x, w, b))


def test_affine_errors_name_the_shapes():
    x, w = np.zeros((2, 3)), np.zeros((4, 5))
    with pytest.raises(ValueError) as info:
        mlp.affine(x, w)
    assert str(info.value) == "x has D_in=3 features (x shape (2, 3)) but weight expects 5 (weight shape (4, 5))"
    with pytest.raises(ValueError, match=r"bias must have shape \(D_out,\) = \(4,\).*got shape \(3,\)"):
        mlp.affine(np.zeros((2, 5)), w, np.zeros(3))
    with pytest.raises(ValueError, match=r"weight must have shape \(D_out, D_in\), got shape \(5,\)"):
        mlp.affine(np.zeros((2, 5)), np.zeros(5))
    with pytest.raises(ValueError, match="x must be a numpy array"):
        mlp.affine([[1.0] * 5], w)
    with pytest.raises(ValueError, match=r"dout must have .* = \(2, 4\), got shape \(2, 3\)"):
        mlp.affine_backward(np.zeros((2, 3)), np.zeros((2, 5)), w)


def test_relu_and_backward():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(mlp.relu(x), [0.0, 0.0, 3.0])
    xt = torch.from_numpy(x).requires_grad_()
    torch.relu(xt).backward(torch.ones(3, dtype=torch.float64))
    np.testing.assert_array_equal(mlp.relu_backward(np.ones(3), x), xt.grad.numpy())  # 0 at 0, like torch


# --- softmax cross-entropy ----------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 8), k=st.integers(1, 8), scale=st.sampled_from([1.0, 30.0, 500.0]), seed=seeds)
def test_softmax_cross_entropy_matches_torch(n, k, scale, seed):
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n, k)) * scale + rng.normal(0, scale)
    y = rng.integers(0, k, size=n)
    st_ = torch.from_numpy(scores).requires_grad_()
    loss_t = F.cross_entropy(st_, torch.from_numpy(y))
    loss_t.backward()
    loss, dscores = mlp.softmax_cross_entropy(scores, y)
    assert isinstance(loss, float) and np.isfinite(loss)
    assert loss == pytest.approx(loss_t.item(), rel=1e-10, abs=1e-10)
    np.testing.assert_allclose(dscores, st_.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_softmax_cross_entropy_gradcheck_and_known_values():
    rng = np.random.default_rng(1)
    scores, y = rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    loss, dscores = mlp.softmax_cross_entropy(scores, y)
    errors = gradcheck(lambda s: mlp.softmax_cross_entropy(s, y)[0], {"s": scores}, {"s": dscores}, None)
    assert errors["s"] < 1e-7, errors
    assert mlp.softmax_cross_entropy(np.zeros((3, 10)), np.array([0, 5, 9]))[0] == pytest.approx(np.log(10))
    np.testing.assert_allclose(dscores.sum(axis=1), 0, atol=1e-15)  # probabilities minus one-hot


def test_softmax_cross_entropy_errors():
    scores = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"y has label 4 but the scores have K=4 classes \(labels must be in 0..3\)"):
        mlp.softmax_cross_entropy(scores, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="label -1"):
        mlp.softmax_cross_entropy(scores, np.array([0, -1, 1]))
    with pytest.raises(ValueError, match=r"y must have shape \(N,\) = \(3,\), got shape \(2,\)"):
        mlp.softmax_cross_entropy(scores, np.array([0, 1]))
    with pytest.raises(ValueError, match="integer class labels, got dtype float64"):
        mlp.softmax_cross_entropy(scores, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"scores must have shape \(N, K\), got shape \(4,\)"):
        mlp.softmax_cross_entropy(np.zeros(4), np.array([0]))
    with pytest.raises(ValueError, match="empty"):
        mlp.softmax_cross_entropy(np.zeros((0, 3)), np.zeros(0, np.int64))


# --- the two-layer MLP --------------------------------------------------------------------------


def torch_mlp_loss_and_grads(X, y, params, reg):
    net = torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.ReLU(), torch.nn.Linear(1, 1)).double()
    with torch.no_grad():
        for layer, (w, b) in zip((net[0], net[2]), [("W1", "b1"), ("W2", "b2")], strict=True):
            layer.weight = torch.nn.Parameter(torch.from_numpy(params[w].copy()))
            layer.bias = torch.nn.Parameter(torch.from_numpy(params[b].copy()))
    loss = F.cross_entropy(net(torch.from_numpy(X.reshape(len(X), -1))), torch.from_numpy(y))
    loss = loss + reg / 2 * (net[0].weight.pow(2).sum() + net[2].weight.pow(2).sum())
    loss.backward()
    grads = {"W1": net[0].weight.grad, "b1": net[0].bias.grad, "W2": net[2].weight.grad, "b2": net[2].bias.grad}
    return loss.item(), {k: v.numpy() for k, v in grads.items()}


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), d=st.integers(1, 6), h=st.integers(1, 8), k=st.integers(2, 5),
       reg=st.sampled_from([0.0, 0.1, 1.0]), seed=seeds)
def test_mlp_loss_and_grads_match_the_same_net_in_torch(n, d, h, k, reg, seed):
    rng = np.random.default_rng(seed)
    params = mlp.init_mlp(d, h, k, seed=seed % 1000)
    params["b1"] = rng.standard_normal(h)
    X, y = rng.standard_normal((n, d)), rng.integers(0, k, size=n)
    loss, grads = mlp.mlp_loss_and_grads(X, y, params, reg)
    loss_t, grads_t = torch_mlp_loss_and_grads(X, y, params, reg)
    assert loss == pytest.approx(loss_t, rel=1e-10)
    assert set(grads) == set(mlp.PARAM_NAMES)
    for name in grads:
        np.testing.assert_allclose(grads[name], grads_t[name], rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(mlp.mlp_forward(X, params).argmax(1), mlp.mlp_predict(X, params))


@pytest.mark.parametrize("reg", [0.0, 0.3])
def test_mlp_gradcheck(reg):
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((6, 4)), np.array([0, 1, 2, 2, 1, 0])
    params = mlp.init_mlp(4, 7, 3, seed=2)
    params["b1"] = rng.standard_normal(7) * 0.1
    _, grads = mlp.mlp_loss_and_grads(X, y, params, reg)
    errors = gradcheck(lambda **p: mlp.mlp_loss_and_grads(X, y, p, reg)[0], params, grads, None)
    assert max(errors.values()) < 1e-7, errors


def test_mlp_flattens_images():
    X = np.random.default_rng(0).standard_normal((3, 1, 2, 2))
    params = mlp.init_mlp(4, 5, 2)
    np.testing.assert_array_equal(mlp.mlp_forward(X, params), mlp.mlp_forward(X.reshape(3, 4), params))
    _, grads = mlp.mlp_loss_and_grads(X, np.array([0, 1, 1]), params)
    assert grads["W1"].shape == (5, 4)


def test_mlp_errors():
    params = mlp.init_mlp(4, 5, 3)
    with pytest.raises(ValueError, match=r"X has D=6 features \(X shape \(2, 6\)\) but W1 expects 4"):
        mlp.mlp_forward(np.zeros((2, 6)), params)
    with pytest.raises(ValueError, match=r"params must be a dict with keys .*got \['W1', 'W2', 'b1'\]"):
        mlp.mlp_forward(np.zeros((2, 4)), {k: params[k] for k in ("W1", "b1", "W2")})
    bad = dict(params, W2=np.zeros((3, 6)))
    with pytest.raises(ValueError, match=r"params\['W2'\] has shape \(3, 6\), expected \(3, 5\)"):
        mlp.mlp_loss_and_grads(np.zeros((2, 4)), np.array([0, 1]), bad)
    with pytest.raises(ValueError, match="label 3"):
        mlp.mlp_loss_and_grads(np.zeros((2, 4)), np.array([0, 3]), params)


def test_train_mlp_reaches_95_percent_on_digits_quickly():
    X_train, y_train, X_test, y_test = digits_split(seed=0)
    X_train = X_train.reshape(len(X_train), -1).astype(np.float64)
    X_test = X_test.reshape(len(X_test), -1).astype(np.float64)
    params0 = mlp.init_mlp(64, 64, 10, seed=0)
    before = {k: v.copy() for k, v in params0.items()}
    start = time.perf_counter()
    params, history = mlp.train_mlp(X_train, y_train, params0, epochs=30, lr=0.5, reg=1e-4,
                                    X_val=X_test, y_val=y_test)
    seconds = time.perf_counter() - start
    accuracy = np.mean(mlp.mlp_predict(X_test, params) == y_test)
    assert accuracy >= 0.95, accuracy
    assert seconds < 20, seconds
    assert history["val_acc"][-1] == pytest.approx(accuracy)
    assert len(history["loss"]) == 30 * int(np.ceil(len(X_train) / 64)) and len(history["train_acc"]) == 30
    assert np.mean(history["loss"][-20:]) < 0.3 < history["loss"][0]
    for k in before:  # the initial parameters are not modified
        np.testing.assert_array_equal(params0[k], before[k])


# --- perceptron ---------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 60), margin=st.floats(0.05, 0.6), lr=st.floats(0.01, 3.0), seed=st.integers(0, 10**6),
       shuffle=st.booleans())
def test_perceptron_converges_on_separable_data_within_novikoffs_bound(n, margin, lr, seed, shuffle):
    X, y = data.make_separable(n, margin=margin, seed=seed)
    w, b, errors = mlp.perceptron_train(X, y, epochs=1000, lr=lr, seed=seed if shuffle else None)
    assert errors[-1] == 0 and errors.dtype == np.int64
    np.testing.assert_array_equal(mlp.perceptron_predict(X, w, b), y)
    # Novikoff: with the bias folded into w, mistakes <= (R / gamma)^2 for any separating unit vector u.
    rng = np.random.default_rng(seed)  # make_separable's line, recomputed
    angle = rng.uniform(0, 2 * np.pi)
    u = np.array([np.cos(angle), np.sin(angle), rng.uniform(-0.5, 0.5)])
    Xa = np.column_stack([X, np.ones(n)])
    gamma = np.min(np.abs(Xa @ u)) / np.linalg.norm(u)
    radius = np.max(np.linalg.norm(Xa, axis=1))
    assert errors.sum() <= (radius / gamma) ** 2


def test_perceptron_never_converges_on_xor():
    X, y = data.make_xor()
    for seed in (None, 0, 1):
        _, _, errors = mlp.perceptron_train(X, y, epochs=100, seed=seed)
        assert len(errors) == 100 and errors.min() > 0
    X, y = data.make_xor(200, noise=0.1, seed=0)
    w, b, errors = mlp.perceptron_train(X, y, epochs=50)
    assert errors.min() > 0 and np.mean(mlp.perceptron_predict(X, w, b) == y) <= 0.75


def test_perceptron_known_run_and_determinism():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    w, b, errors = mlp.perceptron_train(X, np.array([0, 0, 0, 1]), epochs=20)  # AND
    np.testing.assert_array_equal(mlp.perceptron_predict(X, w, b), [0, 0, 0, 1])
    assert isinstance(b, float) and w.dtype == np.float64 and errors[-1] == 0
    X_sep, y_sep = data.make_separable(30, seed=4)
    a, b1, c = mlp.perceptron_train(X_sep, y_sep, seed=3)
    d, b2, e = mlp.perceptron_train(X_sep, y_sep, seed=3)
    np.testing.assert_array_equal(a, d)
    np.testing.assert_array_equal(c, e)
    assert b1 == b2
    assert not np.array_equal(mlp.perceptron_train(X_sep, y_sep, epochs=1, seed=3)[0],
                              mlp.perceptron_train(X_sep, y_sep, epochs=1)[0])  # the seed shuffles


def test_perceptron_errors():
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"labels must be 0 or 1.*\(y \+ 1\) // 2"):
        mlp.perceptron_train(X, np.array([-1, 1, 1, -1]))
    with pytest.raises(ValueError, match=r"y must have shape \(N,\) = \(4,\), got shape \(3,\)"):
        mlp.perceptron_train(X, np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="epochs"):
        mlp.perceptron_train(X, np.array([0, 1, 1, 0]), epochs=0)
    with pytest.raises(ValueError, match="lr"):
        mlp.perceptron_train(X, np.array([0, 1, 1, 0]), lr=0)
    with pytest.raises(ValueError, match=r"X must have shape \(N, D\), got shape \(4,\)"):
        mlp.perceptron_predict(np.zeros(4), np.zeros(4), 0.0)
    with pytest.raises(ValueError, match=r"w must have shape \(D,\) = \(2,\)"):
        mlp.perceptron_predict(X, np.zeros(3), 0.0)


def test_toy_data():
    X, y = data.make_xor()
    np.testing.assert_array_equal(y, [0, 1, 1, 0])
    for make in (data.make_separable, data.make_moons):
        X, y = make(50, seed=3)
        assert X.shape == (50, 2) and X.dtype == np.float64 and y.dtype == np.int64
        assert set(np.unique(y)) == {0, 1}
        np.testing.assert_array_equal(make(50, seed=3)[0], X)
    X, y = data.make_xor(10, noise=0.1, seed=0)
    assert X.shape == (10, 2) and np.bincount(y).tolist() == [5, 5]


# --- the chapter's exercise specs ---------------------------------------------------------------


def test_specs_reject_the_reference_and_torch():
    with pytest.raises(ForbiddenError, match="course_lib.reference.mlp"):
        check("affine", mlp.affine)

    def via_torch(x, weight, bias=None):
        b = None if bias is None else torch.from_numpy(bias)
        return F.linear(torch.from_numpy(x), torch.from_numpy(weight), b).numpy()

    with pytest.raises(ForbiddenError, match="torch"):
        check("affine", via_torch)

    def via_the_answer(f, x, dout=None, h=1e-5):
        return mlp.numerical_gradient(f, x, dout, h)

    with pytest.raises(ForbiddenError, match="course_lib.reference"):
        check("numerical_gradient", via_the_answer)

    def via_the_checker(f, x, dout=None, h=1e-5):
        from course_lib import gradcheck

        return gradcheck._central_differences(f, x, 1.0 if dout is None else dout, h)

    with pytest.raises(ForbiddenError, match="course_lib.gradcheck"):
        check("numerical_gradient", via_the_checker)


def test_transposed_dw_is_explained():
    def transposed(dout, x, weight, bias=None):
        return dout @ weight, x.T @ dout, None if bias is None else dout.sum(0)

    with pytest.raises(CheckFailure, match=r"dw of affine_backward.*has shape \(3, 2\), expected \(2, 3\)"):
        check("affine_backward", transposed)


def test_mlp_spec_compares_gradient_dicts():
    def doubled(X, y, params, reg=0.0):
        W1, b1, W2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
        z1 = X @ W1.T + b1
        h = np.maximum(z1, 0)
        s = h @ W2.T + b2
        p = np.exp(s - s.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        n = len(X)
        loss = -np.log(p[np.arange(n), y]).mean() + 0.5 * reg * ((W1 ** 2).sum() + (W2 ** 2).sum())
        ds = p.copy()
        ds[np.arange(n), y] -= 1
        ds /= n
        dh = ds @ W2
        dz = dh * (z1 > 0)
        grads = {"W1": dz.T @ X + reg * W1, "b1": dz.sum(0), "W2": ds.T @ h + reg * W2, "b2": ds.sum(0)}
        return loss, grads

    check("mlp_loss_and_grads", doubled)  # an independent correct answer passes visible and hidden checks
    hidden_check("mlp_loss_and_grads", doubled, seed=3)

    def wrong_b2(X, y, params, reg=0.0):
        loss, grads = doubled(X, y, params, reg)
        return loss, dict(grads, b2=grads["b2"] * 2)

    with pytest.raises(CheckFailure, match=r"grads\['b2'\] of mlp_loss_and_grads\(X=array float64 \(3, 4\).*"
                                           r"params=\{'W1': array float64 \(5, 4\).*expected"):
        check("mlp_loss_and_grads", wrong_b2)
    with pytest.raises(CheckFailure, match=r"has no entry for \['b1', 'W2', 'b2'\]"):
        check("mlp_loss_and_grads", lambda X, y, params, reg=0.0: (doubled(X, y, params, reg)[0], {"W1": 0}))
    with pytest.raises(CheckFailure, match="should be a dict"):
        check("mlp_loss_and_grads", lambda X, y, params, reg=0.0: (doubled(X, y, params, reg)[0], np.zeros(3)))


def test_numerical_gradient_spec_requires_an_exact_restore():
    def drifting(f, x, dout=None, h=1e-5):
        grad = np.zeros(x.shape)
        for idx in np.ndindex(x.shape):
            x[idx] += h
            plus = f(x) if dout is None else np.sum(f(x) * dout)
            x[idx] -= 2 * h
            minus = f(x) if dout is None else np.sum(f(x) * dout)
            x[idx] += h  # not exactly the old value in floating point
            grad[idx] = (plus - minus) / (2 * h)
        return grad

    with pytest.raises(CheckFailure, match="changed its input"):
        check("numerical_gradient", drifting)
