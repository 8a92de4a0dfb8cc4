"""course_lib.reference.rnn against torch.nn.RNN, autograd, numerical gradients, and the check specs."""

import types

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.gradcheck import gradcheck
from course_lib.reference import rnn
from course_lib.sequences import scaled_orthogonal
from course_lib.testing import CheckFailure, check, hidden_check
from tests._copies import reference_copy

NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _weights(module, suffix="_l0"):
    return tuple(getattr(module, n + suffix).detach().numpy() if hasattr(module, n + suffix) else None
                 for n in NAMES)


@st.composite
def rnn_cases(draw):
    t, n, d, h = (draw(st.integers(1, 5)) for _ in range(4))
    return t, n, d, h, draw(st.booleans()), draw(st.booleans()), draw(st.integers(0, 2**31 - 1))


@settings(max_examples=25, deadline=None)
@given(case=rnn_cases())
def test_forward_matches_torch(case):
    t, n, d, h, bias, bidirectional, seed = case
    torch.manual_seed(seed)
    layer = torch.nn.RNN(d, h, bias=bias, bidirectional=bidirectional).double()
    x = torch.randn(t, n, d, dtype=torch.float64)
    h0 = torch.randn(2 if bidirectional else 1, n, h, dtype=torch.float64)
    out_t, hn_t = layer(x, h0)
    if bidirectional:
        out, hn = rnn.birnn_forward(x.numpy(), h0.numpy(), _weights(layer), _weights(layer, "_l0_reverse"))
        np.testing.assert_allclose(hn, hn_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    else:
        out, hn = rnn.rnn_forward(x.numpy(), h0[0].numpy(), *_weights(layer))
        np.testing.assert_allclose(hn, hn_t[0].detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-10, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(case=rnn_cases())
def test_backward_matches_autograd(case):
    t, n, d, h, bias, _, seed = case
    torch.manual_seed(seed)
    layer = torch.nn.RNN(d, h, bias=bias).double()
    x = torch.randn(t, n, d, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(1, n, h, dtype=torch.float64, requires_grad=True)
    out, _ = layer(x, h0)
    dout = torch.randn_like(out)
    out.backward(dout)
    grads = rnn.rnn_backward(dout.numpy(), x.detach().numpy(), h0[0].detach().numpy(), *_weights(layer))
    expected = [x.grad, h0.grad[0]] + [getattr(layer, n + "_l0").grad if hasattr(layer, n + "_l0") else None
                                        for n in NAMES]
    for got, exp in zip(grads, expected, strict=True):
        if exp is None:
            assert got is None
        else:
            np.testing.assert_allclose(got, exp.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("bias", [True, False])
def test_backward_gradcheck(bias):
    rng = np.random.default_rng(0)
    t, n, d, h = 4, 2, 3, 5
    inputs = {"x": rng.standard_normal((t, n, d)), "h0": rng.standard_normal((n, h)),
              "weight_ih": rng.standard_normal((h, d)) * 0.5, "weight_hh": rng.standard_normal((h, h)) * 0.5}
    if bias:
        inputs |= {"bias_ih": rng.standard_normal(h) * 0.5, "bias_hh": rng.standard_normal(h) * 0.5}
    dout = rng.standard_normal((t, n, h))
    grads = rnn.rnn_backward(dout, **inputs)
    analytic = dict(zip(["x", "h0", *NAMES], grads, strict=False))
    analytic = {k: v for k, v in analytic.items() if v is not None}
    errors = gradcheck(lambda **kw: rnn.rnn_forward(**kw)[0], inputs, analytic, dout, tol=1e-7)
    assert max(errors.values()) < 1e-7


def test_wrong_hidden_shapes_say_expected_and_got():
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((4, 3)), rng.standard_normal((4, 4)), None, None)
    with pytest.raises(ValueError, match=r"h0 should have shape \(2, 4\), got \(4, 2\)"):
        rnn.rnn_forward(rng.standard_normal((3, 2, 3)), rng.standard_normal((4, 2)), *w)
    with pytest.raises(ValueError, match=r"h_prev should have shape \(2, 4\), got \(1, 2, 4\)"):
        rnn.rnn_cell_forward(rng.standard_normal((2, 3)), rng.standard_normal((1, 2, 4)), *w)
    with pytest.raises(ValueError, match=r"h0 should have shape \(2, 2, 4\), got \(2, 4\)"):
        rnn.birnn_forward(rng.standard_normal((3, 2, 3)), rng.standard_normal((2, 4)), w, w)
    with pytest.raises(ValueError, match=r"weight_ih should have shape \(H, D\) = \(4, 5\)"):
        rnn.rnn_forward(rng.standard_normal((3, 2, 5)), None, *w)
    with pytest.raises(ValueError, match="dout should have the shape"):
        rnn.rnn_backward(np.zeros((3, 2, 5)), rng.standard_normal((3, 2, 3)), None, *w)


def test_clip_grad_norm_matches_torch():
    rng = np.random.default_rng(1)
    for max_norm in [0.1, 1.0, 100.0]:
        grads = [rng.standard_normal((3, 4)) * 3, rng.standard_normal(5)]
        params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
        for p, g in zip(params, grads, strict=True):
            p.grad = torch.from_numpy(g.copy())
        total_t = torch.nn.utils.clip_grad_norm_(params, max_norm)
        clipped, total = rnn.clip_grad_norm(grads, max_norm)
        assert total == pytest.approx(float(total_t), rel=1e-12)
        for c, p in zip(clipped, params, strict=True):
            np.testing.assert_allclose(c, p.grad.numpy(), rtol=1e-12)


def test_sampling_matches_softmax_and_is_reproducible():
    logits = np.array([1.0, 0.0, -1.0, 2.0])
    for tau in [0.5, 1.0, 1.5]:
        draws = rnn.sample_with_temperature(np.tile(logits, (20_000, 1)), tau, np.random.default_rng(0))
        p = np.exp(logits / tau) / np.exp(logits / tau).sum()
        np.testing.assert_allclose(np.bincount(draws, minlength=4) / 20_000, p, atol=0.015)
    a = [rnn.sample_with_temperature(logits, 1.0, r) for r in [np.random.default_rng(5)] for _ in range(20)]
    r = np.random.default_rng(5)
    assert a == [rnn.sample_with_temperature(logits, 1.0, r) for _ in range(20)]
    assert isinstance(a[0], int)
    with pytest.raises(ValueError, match="temperature"):
        rnn.sample_with_temperature(logits, 0.0, np.random.default_rng(0))


def test_jacobian_norms_match_autograd_and_linear_case():
    rng = np.random.default_rng(2)
    w = scaled_orthogonal(6, 0.5, rng)
    np.testing.assert_allclose(np.linalg.svd(w, compute_uv=False), 0.5)
    np.testing.assert_allclose(rnn.rnn_jacobian_norms(np.zeros((5, 6)), w), np.sqrt(6) * 0.5 ** np.arange(4, -1, -1))
    x, w_ih = rng.standard_normal((5, 1, 3)), rng.standard_normal((6, 3))
    out, _ = rnn.rnn_forward(x, None, w_ih, w)
    got = rnn.rnn_jacobian_norms(out[:, 0], w)
    for t in range(5):     # ∂h_4/∂h_t by autograd: rerun from h_t
        def tail(h, t=t):
            for s in range(t + 1, 5):
                h = torch.tanh(torch.from_numpy(x[s, 0] @ w_ih.T) + h @ torch.from_numpy(w).T)
            return h
        jac = torch.autograd.functional.jacobian(tail, torch.from_numpy(out[t, 0]))
        assert got[t] == pytest.approx(float(torch.linalg.norm(jac)), rel=1e-10)


def _student(name, mutate=None):
    """A copy of the reference with ``mutate`` applied to its source (not from course_lib.reference.rnn)."""
    helpers = [(rnn, h) for h in ("check_recurrent_weights", "check_state", "rnn_cell_forward", "rnn_forward")]
    return reference_copy(rnn, name, helpers, mutate)


@pytest.mark.parametrize("name", ["rnn_cell_forward", "rnn_forward", "rnn_backward", "birnn_forward",
                                  "clip_grad_norm", "rnn_jacobian_norms", "sample_with_temperature"])
def test_reference_copies_pass_their_checks(name):
    fn = _student(name)
    check(name, fn)
    hidden_check(name, fn, seed=7)


@pytest.mark.parametrize("name, mutate, message", [
    ("rnn_cell_forward", ("h_prev @ weight_hh.T", "h_prev @ weight_hh"), "values are wrong"),
    ("rnn_backward", ("(1 - out[t] ** 2)", "(1 - out[t])"), "dx of rnn_backward"),
    ("birnn_forward", ("out_r[::-1]", "out_r"), "out of birnn_forward"),
    ("clip_grad_norm", ("min(1.0, max_norm / (total + eps))", "max_norm / (total + eps)"), "clipped"),
    ("sample_with_temperature", ("z = logits / temperature", "z = logits * temperature"), "divide the logits by τ"),
    ("rnn_forward", ("h0 = np.zeros((n, h), dtype=dtype)", "h0 = np.ones((n, h), dtype=dtype)"), "h0=None"),
])
def test_checks_catch_mistakes(name, mutate, message):
    with pytest.raises(CheckFailure, match=message):
        check(name, _student(name, mutate))


def test_forbidden_torch_in_student_code():
    def rnn_cell_forward(x, h_prev, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
        cell = torch.nn.RNNCell(x.shape[1], h_prev.shape[1])
        return cell(torch.from_numpy(x), torch.from_numpy(h_prev)).detach().numpy()
    with pytest.raises(CheckFailure, match="torch"):
        check("rnn_cell_forward", rnn_cell_forward)
    assert isinstance(types, object)
