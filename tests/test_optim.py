"""course_lib.reference.optim against torch.optim, torch.optim.lr_scheduler and torch.nn.init; and the Chapter 7
checks against plausible mistakes."""

from __future__ import annotations

import math
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from course_lib.reference import optim  # noqa: E402
from course_lib.testing import CheckFailure, check, hidden_check  # noqa: E402
from course_lib.viz.optim import LANDSCAPES, RULES, OptimizerRace, race  # noqa: E402

L = torch.optim.lr_scheduler

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
seeds = st.integers(0, 2**32 - 1)


def _torch_run(opt_cls, w0, grads, **hp):
    """(param, state) after each step of a torch optimizer fed these gradients."""
    p = torch.nn.Parameter(torch.from_numpy(w0.copy()))
    opt = opt_cls([p], **hp)
    out = []
    for g in grads:
        p.grad = torch.from_numpy(g.copy())
        opt.step()
        state = {k: v.detach().clone().numpy() if torch.is_tensor(v) else v for k, v in opt.state[p].items()}
        out.append((p.detach().numpy().copy(), state))
    return out


def _case(shape, seed, steps):
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.integers(-3, 2)
    return rng.standard_normal(shape), [rng.standard_normal(shape) * scale for _ in range(steps)]


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------- update rules vs torch.optim

@st.composite
def sgd_hparams(draw):
    momentum = draw(st.sampled_from([0.0, 0.5, 0.9, 0.99]) | st.floats(0.0, 0.99))
    nesterov = momentum > 0 and draw(st.booleans())
    dampening = 0.0 if nesterov else draw(st.sampled_from([0.0, 0.1, 0.5, 0.9]))
    return {"lr": draw(st.floats(1e-4, 1.0)), "momentum": momentum, "dampening": dampening, "nesterov": nesterov,
            "weight_decay": draw(st.sampled_from([0.0, 1e-4, 0.1]))}


@settings(max_examples=60, deadline=None)
@given(shape=shapes, seed=seeds, steps=st.integers(1, 15), hp=sgd_hparams())
def test_sgd_matches_torch_step_by_step(shape, seed, steps, hp):
    w, grads = _case(shape, seed, steps)
    buf = None
    for g, (w_t, state) in zip(grads, _torch_run(torch.optim.SGD, w, grads, **hp), strict=True):
        w, buf = optim.sgd_step(w, g, buf, **hp)
        _close(w, w_t)
        if hp["momentum"]:
            _close(buf, state["momentum_buffer"])
        else:
            assert buf is None and state.get("momentum_buffer") is None


@settings(max_examples=60, deadline=None)
@given(shape=shapes, seed=seeds, steps=st.integers(1, 15), lr=st.floats(1e-4, 0.1),
       alpha=st.sampled_from([0.0, 0.5, 0.9, 0.99]), eps=st.sampled_from([1e-8, 1e-3, 0.1]),
       weight_decay=st.sampled_from([0.0, 1e-3, 0.1]))
def test_rmsprop_matches_torch_step_by_step(shape, seed, steps, lr, alpha, eps, weight_decay):
    hp = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay}
    w, grads = _case(shape, seed, steps)
    sq = np.zeros_like(w)
    for g, (w_t, state) in zip(grads, _torch_run(torch.optim.RMSprop, w, grads, **hp), strict=True):
        w, sq = optim.rmsprop_step(w, g, sq, **hp)
        _close(w, w_t)
        _close(sq, state["square_avg"])


@settings(max_examples=60, deadline=None)
@given(shape=shapes, seed=seeds, steps=st.integers(1, 25), lr=st.floats(1e-4, 0.1),
       beta1=st.sampled_from([0.0, 0.5, 0.9]), beta2=st.sampled_from([0.9, 0.99, 0.999]),
       eps=st.sampled_from([1e-8, 1e-3, 0.1]), weight_decay=st.sampled_from([0.0, 1e-3, 0.1]))
def test_adam_matches_torch_step_by_step(shape, seed, steps, lr, beta1, beta2, eps, weight_decay):
    hp = {"lr": lr, "betas": (beta1, beta2), "eps": eps, "weight_decay": weight_decay}
    w, grads = _case(shape, seed, steps)
    m = v = np.zeros_like(w)
    for t, (g, (w_t, state)) in enumerate(zip(grads, _torch_run(torch.optim.Adam, w, grads, **hp), strict=True),
                                          start=1):
        w, m, v = optim.adam_step(w, g, m, v, t, **hp)
        assert float(state["step"]) == t
        _close(m, state["exp_avg"])
        _close(v, state["exp_avg_sq"])
        _close(w, w_t)


def test_first_adam_step_moves_every_coordinate_by_lr():
    """Bias correction: after step 1, m̂ = g and v̂ = g², so the step is lr·sign(g) (up to eps)."""
    g = np.array([1e-4, -3.0, 250.0])
    w, m, v = optim.adam_step(np.zeros(3), g, np.zeros(3), np.zeros(3), 1, lr=0.01)
    np.testing.assert_allclose(w, -0.01 * np.sign(g), rtol=1e-3)


def test_updates_are_pure_and_keep_float32():
    rng = np.random.default_rng(0)
    w, g = rng.standard_normal((3, 2)).astype(np.float32), rng.standard_normal((3, 2)).astype(np.float32)
    before = w.copy(), g.copy()
    w1, buf = optim.sgd_step(w, g, None, lr=0.1, momentum=0.9)
    w2, sq = optim.rmsprop_step(w, g, np.zeros_like(w))
    m0 = np.zeros_like(w)
    w3, m, v = optim.adam_step(w, g, m0, m0, 1)
    np.testing.assert_array_equal(w, before[0])
    np.testing.assert_array_equal(g, before[1])
    assert not m0.any() and buf is not g
    assert all(a.dtype == np.float32 for a in (w1, buf, w2, sq, w3, m, v))


@pytest.mark.parametrize("call, match", [
    (lambda: optim.sgd_step(np.ones(3), np.ones(2), None), "same shape"),
    (lambda: optim.sgd_step(np.ones(3), np.ones(3), np.ones(2), momentum=0.9), "momentum_buffer"),
    (lambda: optim.sgd_step(np.ones(3), np.ones(3), None, nesterov=True), "Nesterov"),
    (lambda: optim.sgd_step(np.ones(3), np.ones(3), None, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    (lambda: optim.sgd_step(np.ones(3), np.ones(3), None, lr=-1), "lr"),
    (lambda: optim.rmsprop_step(np.ones(3), np.ones(3), np.ones(4)), "square_avg"),
    (lambda: optim.adam_step(np.ones(3), np.ones(3), np.zeros(3), np.zeros(3), 0), "step"),
    (lambda: optim.adam_step(np.ones(3), np.ones(3), np.zeros(3), np.zeros(3), 1, betas=(1.0, 0.9)), "betas"),
])
def test_update_rules_explain_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- schedules vs lr_scheduler

def _torch_lrs(make, epochs, lr0):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr0)
    sched = make(opt)
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


lrs0 = st.floats(1e-4, 1.0)


@settings(max_examples=40, deadline=None)
@given(lr0=lrs0, step_size=st.integers(1, 10), gamma=st.floats(0.01, 0.99))
def test_step_decay_matches_steplr(lr0, step_size, gamma):
    expected = _torch_lrs(lambda o: L.StepLR(o, step_size, gamma), 40, lr0)
    np.testing.assert_allclose([optim.step_decay(e, lr0, step_size, gamma) for e in range(40)], expected, rtol=1e-9)


@settings(max_examples=40, deadline=None)
@given(lr0=lrs0, total=st.integers(1, 50), frac_min=st.sampled_from([0.0, 0.01, 0.5]))
def test_cosine_matches_cosineannealinglr(lr0, total, frac_min):
    lr_min = lr0 * frac_min
    expected = _torch_lrs(lambda o: L.CosineAnnealingLR(o, T_max=total, eta_min=lr_min), total + 1, lr0)
    got = [optim.cosine_lr(e, lr0, total, lr_min) for e in range(total + 1)]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-15)
    assert optim.cosine_lr(total + 7, lr0, total, lr_min) == pytest.approx(lr_min)


@pytest.mark.parametrize("total", [1, 4, 10])
def test_cosine_is_the_clamped_schedule_torch_is_periodic(total):
    """Over 2·T_max: equal to CosineAnnealingLR up to T_max; after it ours stays at lr_min while
    torch's rate climbs back along the cosine to lr0 at 2·T_max."""
    lr0, lr_min = 0.1, 0.001
    expected = _torch_lrs(lambda o: L.CosineAnnealingLR(o, T_max=total, eta_min=lr_min), 2 * total + 1, lr0)
    got = [optim.cosine_lr(e, lr0, total, lr_min) for e in range(2 * total + 1)]
    np.testing.assert_allclose(got[:total + 1], expected[:total + 1], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(got[total:], lr_min, rtol=1e-12)
    assert all(t > lr_min + 1e-6 for t in expected[total + 1:]), "torch's cosine rises again after T_max"
    assert np.all(np.diff(expected[total:]) > 0)
    assert expected[2 * total] == pytest.approx(lr0)


@settings(max_examples=40, deadline=None)
@given(lr0=lrs0, warm=st.integers(1, 10), start=st.floats(0.01, 1.0))
def test_warmup_matches_linearlr(lr0, warm, start):
    expected = _torch_lrs(lambda o: L.LinearLR(o, start, 1.0, total_iters=warm), warm + 5, lr0)
    np.testing.assert_allclose([optim.warmup(e, lr0, warm, start) for e in range(warm + 5)], expected, rtol=1e-9)


@settings(max_examples=30, deadline=None)
@given(lr0=lrs0, warm=st.integers(1, 8), rest=st.integers(1, 30), frac_min=st.sampled_from([0.0, 0.01]))
def test_warmup_cosine_matches_sequentiallr(lr0, warm, rest, frac_min):
    total, lr_min = warm + rest, lr0 * frac_min

    def make(o):
        return L.SequentialLR(o, [L.LinearLR(o, 1 / 3, total_iters=warm),
                                  L.CosineAnnealingLR(o, T_max=rest, eta_min=lr_min)], milestones=[warm])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = _torch_lrs(make, total + 1, lr0)
    got = [optim.warmup_cosine(e, lr0, total, warm, lr_min) for e in range(total + 1)]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-15)


@settings(max_examples=60, deadline=None)
@given(metrics=st.lists(st.floats(0.0, 10.0), min_size=1, max_size=40), mode=st.sampled_from(["min", "max"]),
       threshold_mode=st.sampled_from(["rel", "abs"]), threshold=st.sampled_from([0.0, 1e-4, 0.1]),
       patience=st.integers(0, 4), cooldown=st.integers(0, 3), factor=st.sampled_from([0.1, 0.5]),
       min_lr=st.sampled_from([0.0, 1e-3]))
def test_reduce_on_plateau_matches_torch(metrics, mode, threshold_mode, threshold, patience, cooldown, factor,
                                         min_lr):
    kw = {"mode": mode, "threshold_mode": threshold_mode, "threshold": threshold, "patience": patience,
          "cooldown": cooldown, "factor": factor, "min_lr": min_lr}
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    theirs = L.ReduceLROnPlateau(opt, **kw)
    ours = optim.ReduceOnPlateau(0.1, **kw)
    for value in metrics:
        theirs.step(value)
        assert ours.step(value) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)


def test_plateau_divides_by_ten_after_patience():
    sched = optim.ReduceOnPlateau(0.01, patience=2)
    lrs = [sched.step(loss) for loss in [1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]]
    assert lrs == pytest.approx([0.01, 0.01, 0.01, 0.01, 0.001, 0.001, 0.001, 0.0001])


@pytest.mark.parametrize("call, match", [
    (lambda: optim.step_decay(-1, 0.1, 3), "epoch"), (lambda: optim.step_decay(1, 0.1, 0), "step_size"),
    (lambda: optim.cosine_lr(1, 0.1, 0), "total"), (lambda: optim.warmup(1, 0.1, 3, start_factor=0), "start_factor"),
    (lambda: optim.warmup_cosine(1, 0.1, 5, 5), "warmup_epochs"),
    (lambda: optim.ReduceOnPlateau(0.1, factor=1.0), "factor"),
    (lambda: optim.ReduceOnPlateau(0.1, mode="up"), "mode"),
])
def test_schedules_explain_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- initialisation vs torch.nn.init

@pytest.mark.parametrize("shape", [(10, 5), (16, 6, 5, 5), (8, 3, 4), (2, 3, 1, 1), (4, 2, 3, 3, 3), (1, 1)])
def test_fans_match_torch(shape):
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert optim.fan_in_and_fan_out(shape) == expected


@pytest.mark.parametrize("name, param", [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                                         ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)])
def test_gains_match_torch(name, param):
    assert optim.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param), rel=1e-15)


def _torch_init(fn, shape, **kw):
    t = torch.empty(shape, dtype=torch.float64)
    fn(t, generator=torch.Generator().manual_seed(0), **kw)
    return t.numpy()


UNIFORM = [  # (ours, torch's, kwargs, exact bound)
    (optim.xavier_uniform, torch.nn.init.xavier_uniform_, {"gain": 5 / 3},
     lambda fi, fo: 5 / 3 * math.sqrt(6 / (fi + fo))),
    (optim.kaiming_uniform, torch.nn.init.kaiming_uniform_, {"nonlinearity": "relu"}, lambda fi, fo: math.sqrt(6 / fi)),
    (optim.kaiming_uniform, torch.nn.init.kaiming_uniform_, {"mode": "fan_out", "a": 0.2},
     lambda fi, fo: math.sqrt(3 * 2 / (1 + 0.04) / fo)),
]
NORMAL = [  # (ours, torch's, kwargs, exact std)
    (optim.xavier_normal, torch.nn.init.xavier_normal_, {}, lambda fi, fo: math.sqrt(2 / (fi + fo))),
    (optim.kaiming_normal, torch.nn.init.kaiming_normal_, {"nonlinearity": "relu"}, lambda fi, fo: math.sqrt(2 / fi)),
    (optim.kaiming_normal, torch.nn.init.kaiming_normal_, {"mode": "fan_out", "nonlinearity": "tanh"},
     lambda fi, fo: 5 / 3 / math.sqrt(fo)),
]


@pytest.mark.parametrize("shape", [(300, 400), (64, 32, 3, 3)])
@pytest.mark.parametrize("ours, theirs, kw, bound", UNIFORM)
def test_uniform_inits_bounds_and_spread_match_torch(ours, theirs, kw, bound, shape):
    b = bound(*optim.fan_in_and_fan_out(shape))
    w, t = ours(shape, np.random.default_rng(0), **kw), _torch_init(theirs, shape, **kw)
    for arr in (w, t):
        assert arr.shape == shape and np.abs(arr).max() <= b and np.abs(arr).max() > 0.99 * b
        assert abs(arr.mean()) < 0.02 * b
        assert arr.std() == pytest.approx(b / math.sqrt(3), rel=0.02)


@pytest.mark.parametrize("shape", [(300, 400), (64, 32, 3, 3)])
@pytest.mark.parametrize("ours, theirs, kw, std", NORMAL)
def test_normal_inits_spread_matches_torch(ours, theirs, kw, std, shape):
    s = std(*optim.fan_in_and_fan_out(shape))
    w, t = ours(shape, np.random.default_rng(0), **kw), _torch_init(theirs, shape, **kw)
    for arr in (w, t):
        assert arr.shape == shape and abs(arr.mean()) < 0.02 * s
        assert arr.std() == pytest.approx(s, rel=0.02)


def test_plain_inits_and_seeds():
    g = optim.gaussian_init((200, 300), 0, std=0.01)
    u = optim.uniform_init((200, 300), 0, a=-0.1, b=0.1)
    assert g.std() == pytest.approx(0.01, rel=0.02) and -0.1 <= u.min() < u.max() <= 0.1
    np.testing.assert_array_equal(optim.xavier_uniform((4, 5), 3),
                                  optim.xavier_uniform((4, 5), np.random.default_rng(3)))


@pytest.mark.parametrize("call, match", [
    (lambda: optim.fan_in_and_fan_out((5,)), "at least 2 dimensions"),
    (lambda: optim.kaiming_normal((3, 3), 0, mode="fan_avg"), "mode"),
    (lambda: optim.kaiming_normal((3, 3), 0, nonlinearity="swish"), "nonlinearity"),
    (lambda: optim.uniform_init((3, 3), 0, a=1, b=0), "a ≤ b"),
])
def test_inits_explain_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- mini-batches

@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 100), batch_size=st.integers(1, 20), seed=seeds, drop_last=st.booleans())
def test_minibatches_cover_each_index_once(n, batch_size, seed, drop_last):
    batches = optim.minibatches(n, batch_size, seed, drop_last=drop_last)
    sizes = [len(b) for b in batches]
    full, rest = divmod(n, batch_size)
    assert sizes == [batch_size] * full + ([rest] if rest and not drop_last else [])
    flat = np.concatenate(batches) if batches else np.array([], int)
    assert len(set(flat.tolist())) == len(flat) and set(flat.tolist()) <= set(range(n))
    np.testing.assert_array_equal(np.concatenate(optim.minibatches(n, batch_size, shuffle=False) or [np.array([])]),
                                  np.arange(n))


# --------------------------------------------------------------------------- the chapter's checks catch mistakes

def _adam_no_bias_correction(w, dw, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                             weight_decay=0.0):
    g = dw + weight_decay * w
    m = betas[0] * exp_avg + (1 - betas[0]) * g
    v = betas[1] * exp_avg_sq + (1 - betas[1]) * g * g
    return w - lr * m / (np.sqrt(v) + eps), m, v


def _sgd_zero_buffer(w, dw, momentum_buffer=None, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False,
                     weight_decay=0.0):
    """Starts the buffer at zero (dampens the first step), unlike torch."""
    if nesterov and (momentum <= 0 or dampening):
        raise ValueError("nesterov")
    if w.shape != dw.shape:
        raise ValueError("shape")
    g = dw + weight_decay * w
    if not momentum:
        return w - lr * g, None
    buf = momentum * (np.zeros_like(w) if momentum_buffer is None else momentum_buffer) + (1 - dampening) * g
    return w - lr * (g + momentum * buf if nesterov else buf), buf


def _rmsprop_eps_inside(w, dw, square_avg, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
    if np.shape(square_avg) != w.shape:
        raise ValueError("shape")
    g = dw + weight_decay * w
    sq = alpha * square_avg + (1 - alpha) * g * g
    return w - lr * g / np.sqrt(sq + eps), sq


def _rmsprop_in_place(w, dw, square_avg, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
    square_avg *= alpha
    square_avg += (1 - alpha) * dw * dw
    return w - lr * dw / (np.sqrt(square_avg) + eps), square_avg


@pytest.mark.parametrize("name, fn, message", [
    ("adam_step", _adam_no_bias_correction, r"step 1 from zeros.*values are wrong"),
    ("sgd_step", _sgd_zero_buffer, r"does not dampen the first step"),
    ("rmsprop_step", _rmsprop_eps_inside, r"large eps"),
    ("rmsprop_step", _rmsprop_in_place, r"changed its input"),
    ("cosine_lr", lambda epoch, lr0, total, lr_min=0.0: lr0 * math.cos(math.pi * epoch / total / 2),
     r"expected"),
    ("fan_in_and_fan_out", lambda shape: (shape[1], shape[0]) if len(shape) > 1 else shape[2], r"fan_in of"),
    ("kaiming_normal", lambda shape, rng, a=0.0, mode="fan_in", nonlinearity="leaky_relu":
        rng.normal(0.0, 1 / math.sqrt(shape[1]), size=shape), r"values are wrong"),
])
def test_visible_checks_catch_mistakes(name, fn, message):
    with pytest.raises(CheckFailure, match=message):
        check(name, fn)


def test_hidden_checks_carry_the_students_own_state():
    """A rule that is right on every single step given the reference's state but returns a state
    that drifts (float32 rounding of the buffer here is harmless; dropping it is not)."""
    def forgets_buffer_after_a_few_steps(w, dw, momentum_buffer=None, **hp):
        w_new, buf = optim.sgd_step(w, dw, momentum_buffer, **hp)
        return w_new, (None if buf is not None and np.abs(buf).max() < 0.05 else buf)

    import dataclasses

    from course_lib.testing import EXERCISES
    from course_lib.testing.core import run_exercise

    ex = dataclasses.replace(EXERCISES["sgd_step"], forbid=(), hidden=lambda rng: [], visible=lambda: [])
    with pytest.raises(CheckFailure, match="feeding your own"):
        run_exercise(ex, forgets_buffer_after_a_few_steps, hidden=True)
    hidden_check("sgd_step", _reference_copy, seed=3)


def _reference_copy(w, dw, momentum_buffer=None, lr=1e-3, momentum=0.0, dampening=0.0, nesterov=False,
                    weight_decay=0.0):
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("Nesterov needs momentum > 0 and dampening = 0")
    if w.shape != dw.shape:
        raise ValueError("shapes differ")
    g = dw + weight_decay * w
    if momentum == 0:
        return w - lr * g, None
    buf = g.copy() if momentum_buffer is None else momentum * momentum_buffer + (1 - dampening) * g
    return w - lr * (g + momentum * buf if nesterov else buf), buf


# --------------------------------------------------------------------------- the optimizer race widget

@pytest.mark.parametrize("name", list(LANDSCAPES))
def test_landscape_gradients_are_right(name):
    land = LANDSCAPES[name]
    w, h = np.array([0.3, -0.7]), 1e-6
    numeric = [(land.f(w + h * e)[0] - land.f(w - h * e)[0]) / (2 * h) for e in np.eye(2)]
    np.testing.assert_allclose(land.f(w)[1], numeric, rtol=1e-6, atol=1e-6)


def test_race_uses_the_given_rules_and_stops_when_it_blows_up():
    calls = []

    def my_adam(*args, **kw):
        calls.append(args[4])
        return optim.adam_step(*args, **kw)

    path, losses = race("adam", "rosenbrock", 30, 0.05, step_fns={"adam": my_adam})
    assert path.shape == (31, 2) and losses.shape == (31,) and calls == list(range(1, 31))
    path, losses = race("sgd", "ill-conditioned valley", 200, lr=0.5)     # lr > 2/50: diverges
    assert len(path) < 201 and np.isfinite(path).all()
    with pytest.raises(ValueError, match="rule must be one of"):
        race("adagrad", "saddle", 10, 0.1)


def test_optimizer_race_widget():
    r = OptimizerRace(steps=20)
    assert set(r.paths) == set(RULES) and r.paths["adam"].shape == (21, 2)
    assert r.view.widget.value[:4] == b"\x89PNG"
    assert "application/vnd.jupyter.widget-view+json" in r._repr_mimebundle_()
    r.lr_sliders["sgd"].value = 0.5
    assert "sgd: diverged" in r.info
    r.landscape_dropdown.value = "rosenbrock"
    assert r.lr_sliders["adam"].value == pytest.approx(LANDSCAPES["rosenbrock"].lrs["adam"])
    r.show["nesterov"].value = False
    assert "nesterov" not in r.paths and "nesterov" not in r.info

    def broken(*_, **__):
        raise RuntimeError("boom")

    r2 = OptimizerRace(step_fns={"sgd": broken}, steps=10)
    assert "RuntimeError" in r2.info and "boom" in r2.info and "adam" in r2.paths
    with pytest.raises(ValueError, match="step_fns keys"):
        OptimizerRace(step_fns={"nadam": broken})
    with pytest.raises(ValueError, match="unknown landscape"):
        OptimizerRace(landscape="everest")
