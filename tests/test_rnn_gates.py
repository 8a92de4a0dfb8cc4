"""course_lib.reference.rnn_gates against torch.nn.LSTM / GRU, autograd, numerical gradients, and the check specs."""


import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.gradcheck import gradcheck
from course_lib.reference import rnn, rnn_gates
from course_lib.testing import CheckFailure, check, hidden_check
from tests._copies import reference_copy

NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _weights(module, suffix="_l0"):
    params = (getattr(module, n + suffix, None) for n in NAMES)
    return tuple(None if p is None else p.detach().numpy() for p in params)


@st.composite
def cases(draw):
    t, n, d, h = (draw(st.integers(1, 5)) for _ in range(4))
    return t, n, d, h, draw(st.booleans()), draw(st.booleans()), draw(st.integers(0, 2**31 - 1))


@settings(max_examples=25, deadline=None)
@given(case=cases())
def test_lstm_forward_and_cells_match_torch(case):
    t, n, d, h, bias, zero_state, seed = case
    torch.manual_seed(seed)
    layer = torch.nn.LSTM(d, h, bias=bias).double()
    x = torch.randn(t, n, d, dtype=torch.float64)
    h0, c0 = torch.randn(1, n, h, dtype=torch.float64), torch.randn(1, n, h, dtype=torch.float64)
    out_t, (hn_t, cn_t) = layer(x) if zero_state else layer(x, (h0, c0))
    hc0 = None if zero_state else (h0[0].numpy(), c0[0].numpy())
    out, (hn, cn) = rnn_gates.lstm_forward(x.numpy(), hc0, *_weights(layer))
    for got, exp in ((out, out_t), (hn, hn_t[0]), (cn, cn_t[0])):
        np.testing.assert_allclose(got, exp.detach().numpy(), rtol=1e-10, atol=1e-12)
    cell = torch.nn.LSTMCell(d, h, bias=bias).double()
    h1, c1 = cell(x[0], (h0[0], c0[0]))
    got = rnn_gates.lstm_cell_forward(x[0].numpy(), h0[0].numpy(), c0[0].numpy(), *_weights(cell, ""))
    np.testing.assert_allclose(got[0], h1.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[1], c1.detach().numpy(), rtol=1e-10, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(case=cases())
def test_gru_forward_and_cell_match_torch(case):
    t, n, d, h, bias, zero_state, seed = case
    torch.manual_seed(seed)
    layer = torch.nn.GRU(d, h, bias=bias).double()
    x, h0 = torch.randn(t, n, d, dtype=torch.float64), torch.randn(1, n, h, dtype=torch.float64)
    out_t, hn_t = layer(x) if zero_state else layer(x, h0)
    out, hn = rnn_gates.gru_forward(x.numpy(), None if zero_state else h0[0].numpy(), *_weights(layer))
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hn, hn_t[0].detach().numpy(), rtol=1e-10, atol=1e-12)
    cell = torch.nn.GRUCell(d, h, bias=bias).double()
    got = rnn_gates.gru_cell_forward(x[0].numpy(), h0[0].numpy(), *_weights(cell, ""))
    np.testing.assert_allclose(got, cell(x[0], h0[0]).detach().numpy(), rtol=1e-10, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(case=cases())
def test_lstm_backward_matches_autograd(case):
    t, n, d, h, bias, _, seed = case
    torch.manual_seed(seed)
    layer = torch.nn.LSTM(d, h, bias=bias).double()
    x = torch.randn(t, n, d, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(1, n, h, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(1, n, h, dtype=torch.float64, requires_grad=True)
    out, _ = layer(x, (h0, c0))
    dout = torch.randn_like(out)
    out.backward(dout)
    grads = rnn_gates.lstm_backward(dout.numpy(), x.detach().numpy(), (h0[0].detach().numpy(), c0[0].detach().numpy()),
                                    *_weights(layer))
    expected = [x.grad, h0.grad[0], c0.grad[0]] + [
        None if getattr(layer, n + "_l0", None) is None else getattr(layer, n + "_l0").grad for n in NAMES]
    for got, exp in zip(grads, expected, strict=True):
        if exp is None:
            assert got is None
        else:
            np.testing.assert_allclose(got, exp.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("bias", [True, False])
def test_cell_backward_gradcheck(bias):
    rng = np.random.default_rng(0)
    n, d, h = 3, 4, 5
    inputs = {"x": rng.standard_normal((n, d)), "h_prev": rng.standard_normal((n, h)),
              "c_prev": rng.standard_normal((n, h)), "weight_ih": rng.standard_normal((4 * h, d)) * 0.5,
              "weight_hh": rng.standard_normal((4 * h, h)) * 0.5}
    if bias:
        inputs |= {"bias_ih": rng.standard_normal(4 * h) * 0.5, "bias_hh": rng.standard_normal(4 * h) * 0.5}
    dh, dc = rng.standard_normal((n, h)), rng.standard_normal((n, h))
    grads = rnn_gates.lstm_cell_backward(dh, dc, **inputs)
    analytic = {k: v for k, v in zip(["x", "h_prev", "c_prev", *NAMES], grads, strict=True) if v is not None}
    errors = gradcheck(lambda **kw: np.concatenate(rnn_gates.lstm_cell_forward(**kw), axis=1), inputs, analytic,
                       np.concatenate([dh, dc], axis=1), tol=1e-7)
    assert max(errors.values()) < 1e-7


def test_forget_products_are_the_direct_path_jacobian():
    """With h held fixed, ∂c_{T-1}/∂c_t is exactly diag(∏ f): compare with autograd."""
    rng = np.random.default_rng(1)
    f = rng.uniform(0.2, 1.0, (6, 3))
    g = rng.standard_normal((6, 3))
    prods = rnn_gates.forget_gate_products(f)
    for t in range(6):
        def tail(c, t=t):
            for s in range(t + 1, 6):
                c = torch.from_numpy(f[s]) * c + torch.from_numpy(g[s])
            return c
        jac = torch.autograd.functional.jacobian(tail, torch.zeros(3, dtype=torch.float64))
        np.testing.assert_allclose(np.diag(jac.numpy()), prods[t], rtol=1e-12)


def test_cifg_is_an_lstm_with_i_equal_one_minus_f():
    rng = np.random.default_rng(2)
    x, hp, cp = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    w_ih, w_hh = rng.standard_normal((12, 3)), rng.standard_normal((12, 4))
    h_next, c_next = rnn_gates.coupled_lstm_cell_forward(x, hp, cp, w_ih, w_hh)
    a = x @ w_ih.T + hp @ w_hh.T
    f = rnn_gates.sigmoid(a[:, :4])
    np.testing.assert_allclose(c_next, f * cp + (1 - f) * np.tanh(a[:, 4:8]))
    np.testing.assert_allclose(h_next, rnn_gates.sigmoid(a[:, 8:]) * np.tanh(c_next))


def test_wrong_shapes_say_expected_and_got():
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((16, 3)), rng.standard_normal((16, 4)), None, None)
    x = rng.standard_normal((2, 3))
    with pytest.raises(ValueError, match=r"c_prev should have shape \(2, 4\), got \(4, 2\)"):
        rnn_gates.lstm_cell_forward(x, np.zeros((2, 4)), np.zeros((4, 2)), *w)
    with pytest.raises(ValueError, match=r"h0 should have shape \(2, 4\), got \(1, 2, 4\)"):
        rnn_gates.lstm_forward(rng.standard_normal((3, 2, 3)), (np.zeros((1, 2, 4)), np.zeros((2, 4))), *w)
    with pytest.raises(ValueError, match=r"pair \(h0, c0\)"):
        rnn_gates.lstm_forward(rng.standard_normal((3, 2, 3)), np.zeros((2, 4)), *w)
    with pytest.raises(ValueError, match=r"weight_hh should have shape \(3H, H\) = \(12, 4\)"):
        rnn_gates.gru_cell_forward(x, np.zeros((2, 4)), rng.standard_normal((12, 3)), w[1])
    with pytest.raises(ValueError, match=r"weight_ih should be 2-d \(4H, D\)"):
        rnn_gates.lstm_cell_forward(x, np.zeros((2, 4)), np.zeros((2, 4)), rng.standard_normal((15, 3)), w[1])
    with pytest.raises(ValueError, match="dout should have the shape"):
        rnn_gates.lstm_backward(np.zeros((3, 2, 5)), rng.standard_normal((3, 2, 3)), None, *w)
    with pytest.raises(ValueError, match="length"):
        rnn_gates.adding_problem(4, 1, rng)


def test_adding_problem_marks_one_step_in_each_half():
    x, y = rnn_gates.adding_problem(500, 50, np.random.default_rng(0))
    assert x.shape == (50, 500, 2) and y.shape == (500,) and x.dtype == np.float32
    marks = x[..., 1]
    assert (marks.sum(axis=0) == 2).all()
    assert (marks[:25].sum(axis=0) == 1).all() and (marks[25:].sum(axis=0) == 1).all()
    np.testing.assert_allclose(y, (x[..., 0] * marks).sum(axis=0), rtol=1e-6)
    assert np.mean((1 - y) ** 2) == pytest.approx(1 / 6, abs=0.02)   # the baseline the notebook quotes


def _student(name, mutate=None):
    """A copy of the reference with ``mutate`` applied to its source (not from course_lib)."""
    helpers = [(rnn, "check_recurrent_weights"), (rnn, "check_state"),
               *((rnn_gates, h) for h in ("sigmoid", "_preact", "_lstm_gates", "_initial_states", "lstm_gate_trace",
                                          "lstm_cell_forward", "gru_cell_forward"))]
    return reference_copy(rnn_gates, name, helpers, mutate)


@pytest.mark.parametrize("name", ["lstm_cell_forward", "lstm_forward", "lstm_cell_backward", "forget_gate_products",
                                  "gru_cell_forward", "gru_forward", "coupled_lstm_cell_forward"])
def test_reference_copies_pass_their_checks(name):
    fn = _student(name)
    check(name, fn)
    hidden_check(name, fn, seed=7)


@pytest.mark.parametrize("name, mutate, message", [
    ("lstm_cell_forward", ("return o * np.tanh(c), c", "return o * c, c"), "h_next of lstm_cell_forward"),
    ("lstm_cell_backward", ("dc * f, da.T", "dc, da.T"), "dc_prev of lstm_cell_backward"),
    ("gru_cell_forward", ("return (1 - z) * n + z * h_prev", "return z * n + (1 - z) * h_prev"),
     "z ≈ 1 keeps the old state"),
    ("forget_gate_products", ("out[t + 1] * f[t + 1]", "out[t + 1] * f[t]"), "not f_t itself"),
    ("coupled_lstm_cell_forward", ("(1 - f) * g", "f * g"), "values are wrong"),
])
def test_checks_catch_mistakes(name, mutate, message):
    with pytest.raises(CheckFailure, match=message):
        check(name, _student(name, mutate))


def test_gru_with_summed_biases_is_caught():
    """The classic GRU mistake: adding b_hn outside r ⊙ (…) like the LSTM's biases."""
    def gru_cell_forward(x, h_prev, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
        h = h_prev.shape[1]
        b = sum(v for v in (bias_ih, bias_hh) if v is not None)
        a_x, a_h = x @ weight_ih.T + b, h_prev @ weight_hh.T
        r = 1 / (1 + np.exp(-(a_x[:, :h] + a_h[:, :h])))
        z = 1 / (1 + np.exp(-(a_x[:, h:2 * h] + a_h[:, h:2 * h])))
        return (1 - z) * np.tanh(a_x[:, 2 * h:] + r * a_h[:, 2 * h:]) + z * h_prev
    with pytest.raises(CheckFailure, match="b_hn inside"):
        check("gru_cell_forward", gru_cell_forward)


def test_forbidden_torch_in_student_code():
    def lstm_cell_forward(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
        cell = torch.nn.LSTMCell(x.shape[1], h_prev.shape[1])
        return cell(torch.from_numpy(x))
    with pytest.raises(CheckFailure, match="torch"):
        check("lstm_cell_forward", lstm_cell_forward)
