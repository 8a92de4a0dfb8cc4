"""Exercise specifications for Chapter 7 (training and optimisation).

The update rules are pure functions with explicit state, so every state array is compared too.
Hidden tests run randomised multi-step sequences: each step of a reference run as its own case, and
(in ``extra``) whole runs on a quadratic that carry the student's *own* state from step to step.
Initialisers and mini-batches draw from a seeded ``Generator`` that the check hands to the student
and to the reference in identical copies, so the drawn values must match exactly.
"""

from __future__ import annotations

import numpy as np

from ._cases import randn
from .core import Case, CheckFailure, Exercise, Extra, answers, compare, forbidden

optim = answers("optim")  # the answers, imported when first used

__all__ = ["EXERCISES"]

_OPT_TOL = {"rtol": 1e-6, "atol": 1e-10}


# --------------------------------------------------------------------------- update-rule sequences

def _steps(kind, w, grads, hp):
    """Cases for each step of a reference run of ``kind`` from w with these gradients."""
    cases, state = [], _initial_state(kind, w)
    for t, g in enumerate(grads, start=1):
        args = (w, g, *state) if kind != "adam" else (w, g, *state, t)
        cases.append(Case(args, dict(hp), note=f"step {t} of a run"))
        w, *state = _REFS[kind](*args, **hp)
    return cases


def _initial_state(kind, w):
    return {"sgd": [None], "rmsprop": [np.zeros_like(w)], "adam": [np.zeros_like(w), np.zeros_like(w)]}[kind]


_REFS = {"sgd": optim.sgd_step, "rmsprop": optim.rmsprop_step, "adam": optim.adam_step}


def _random_hp(kind, rng):
    wd = float(rng.choice([0.0, 0.0, 0.01, 0.1]))
    if kind == "sgd":
        momentum = float(rng.choice([0.0, 0.5, 0.9, 0.99]))
        nesterov = bool(momentum > 0 and rng.random() < 0.4)
        dampening = 0.0 if nesterov or rng.random() < 0.5 else float(rng.uniform(0.05, 0.9))
        return {"lr": float(rng.uniform(0.01, 0.5)), "momentum": momentum, "dampening": dampening,
                "nesterov": nesterov, "weight_decay": wd}
    if kind == "rmsprop":
        return {"lr": float(rng.uniform(1e-3, 0.1)), "alpha": float(rng.choice([0.9, 0.99])),
                "eps": float(rng.choice([1e-8, 1e-3, 0.1])), "weight_decay": wd}
    return {"lr": float(rng.uniform(1e-3, 0.1)), "betas": (float(rng.choice([0.0, 0.5, 0.9])),
                                                            float(rng.choice([0.9, 0.99, 0.999]))),
            "eps": float(rng.choice([1e-8, 1e-3, 0.1])), "weight_decay": wd}


def _hidden_sequences(kind):
    def hidden(rng):
        cases = []
        for _ in range(4):
            shape = tuple(int(s) for s in rng.integers(1, 5, size=int(rng.integers(1, 4))))
            w = randn(rng, *shape)
            grads = [randn(rng, *shape) * float(rng.choice([1e-3, 1.0, 10.0])) for _ in range(5)]
            cases += _steps(kind, w, grads, _random_hp(kind, rng))
        w = randn(rng, 3)
        bad = (w, randn(rng, 4), *_initial_state(kind, randn(rng, 4)))
        cases.append(Case(bad + ((1,) if kind == "adam" else ()), raises=ValueError))
        return cases
    return hidden


def _carry_runs(kind, n_steps):
    """The three runs of the carry check: (a, w0, hyper-parameters) each, the same on both sides."""
    rng = np.random.default_rng(sum(map(ord, kind)))
    runs = []
    for _ in range(3):
        a = rng.uniform(0.5, 10.0, size=4)
        w0 = rng.standard_normal(4)
        runs.append((a, w0, _random_hp(kind, rng)))
    return runs


def _carry_extra(kind, n_steps=30):
    """Whole runs on f(w) = ½·Σ a·w², feeding the student's outputs back in as the next state: the
    kernel records the student's w after every step, the grader compares with the reference's run."""

    def probe(ex, fn):
        runs = []
        for a, w0, hp in _carry_runs(kind, n_steps):
            got, t = [], 0
            w, state = w0, _initial_state(kind, w0)
            try:
                with forbidden(fn, ex.forbid, ex.name, ex.allow):             # once per run: switching off is not free
                    for t in range(1, n_steps + 1):
                        out = fn(w, a * w, *state, *((t,) if kind == "adam" else ()), **hp)
                        if not isinstance(out, (tuple, list)) or len(out) != 1 + len(state):
                            raise CheckFailure(f"{ex.name} should return a tuple ({', '.join(ex.output_names)}).")
                        w, *state = out
                        got.append(np.asarray(w))
            except CheckFailure:
                raise
            except Exception as err:
                raise CheckFailure(f"{ex.name} raised {type(err).__name__} at step {t} of a run: {err}") from err
            runs.append(got)
        return runs

    def verify(ex, runs):
        for run, ((a, w0, hp), got) in enumerate(zip(_carry_runs(kind, n_steps), runs, strict=True)):
            w, state, expected = w0, _initial_state(kind, w0), []
            for t in range(1, n_steps + 1):
                w, *state = _REFS[kind](w, a * w, *state, *((t,) if kind == "adam" else ()), **hp)
                expected.append(w)
            if len(got) != n_steps:
                raise CheckFailure(f"{ex.name}: {len(got)} steps were recorded for a run of {n_steps}.")
            for t, (g, e) in enumerate(zip(got, expected, strict=True), start=1):
                what = (f"w after {t} steps of run {run + 1} on a quadratic, feeding your own "
                        f"({', '.join(ex.output_names[1:])}) back in, with {hp}")
                compare(g, e, what, rtol=1e-5, atol=1e-8)

    return Extra(probe, verify)


# --------------------------------------------------------------------------- visible cases

def _sgd_visible():
    w, g = np.array([1.0, -2.0, 3.0]), np.array([0.5, -1.0, 2.0])
    buf = np.array([0.2, 0.4, -0.6])
    rng = np.random.default_rng(70)
    return [
        Case((w, g, None), {"lr": 0.1}, note="plain SGD: w − lr·dw, and the buffer stays None"),
        Case((w, g, None), {"lr": 0.1, "momentum": 0.9}, note="first step with momentum: buffer = gradient"),
        Case((w, g, buf), {"lr": 0.1, "momentum": 0.9}, note="buffer = momentum·buffer + gradient"),
        Case((w, g, None), {"lr": 0.1, "momentum": 0.9, "dampening": 0.5},
             note="torch does not dampen the first step: buffer = gradient"),
        Case((w, g, buf), {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}, note="dampening after the first step"),
        Case((w, g, buf), {"lr": 0.1, "momentum": 0.9, "nesterov": True},
             note="Nesterov: step along gradient + momentum·buffer"),
        Case((w, g, buf), {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1},
             note="weight decay: the gradient becomes dw + weight_decay·w"),
        Case((randn(rng, 2, 3, dtype=np.float32), randn(rng, 2, 3, dtype=np.float32), None),
             {"lr": 0.05, "momentum": 0.5}, note="2-D float32 weight"),
        Case((w, g, None), {"lr": 0.1, "nesterov": True}, raises=ValueError, note="Nesterov needs momentum > 0"),
        Case((w, g[:2], None), {"lr": 0.1}, raises=ValueError, note="w and dw of different shapes"),
    ]


def _rmsprop_visible():
    w, g = np.array([1.0, -2.0, 3.0]), np.array([0.5, -1.0, 2.0])
    sq = np.array([0.1, 0.5, 2.0])
    rng = np.random.default_rng(71)
    return [
        Case((w, g, np.zeros(3)), {"lr": 0.01}, note="first step: square_avg = (1 − alpha)·dw²"),
        Case((w, g, sq), {"lr": 0.01, "alpha": 0.9}, note="a later step"),
        Case((w, g, sq), {"lr": 0.01, "eps": 0.1}, note="large eps: it is added after the square root"),
        Case((w, g, sq), {"lr": 0.01, "weight_decay": 0.1}, note="weight decay added to the gradient"),
        Case((randn(rng, 2, 2, dtype=np.float32), randn(rng, 2, 2, dtype=np.float32), np.zeros((2, 2), np.float32)),
             {"lr": 0.01}, note="float32"),
        *_steps("rmsprop", randn(rng, 4), [randn(rng, 4) for _ in range(3)], {"lr": 0.01, "alpha": 0.9}),
        Case((w, g, np.zeros(2)), raises=ValueError, note="square_avg of the wrong shape"),
    ]


def _adam_visible():
    w, g = np.array([1.0, -2.0, 3.0]), np.array([0.5, -1.0, 2e-3])
    m, v = np.array([0.1, -0.2, 0.05]), np.array([0.02, 0.1, 0.4])
    rng = np.random.default_rng(72)
    z = np.zeros(3)
    return [
        Case((w, g, z, z, 1), {"lr": 0.1},
             note="step 1 from zeros: bias correction makes every coordinate move by ≈ lr"),
        Case((w, g, m, v, 2), {"lr": 0.1}, note="step 2: bias correction 1 − β^2"),
        Case((w, g, m, v, 50), {"lr": 0.1, "betas": (0.8, 0.99)}, note="step 50, other betas"),
        Case((w, g, m, v, 3), {"lr": 0.1, "eps": 0.1}, note="large eps: added to √v / √(1 − β2^t)"),
        Case((w, g, m, v, 3), {"lr": 0.1, "weight_decay": 0.1}, note="weight decay added to the gradient"),
        *_steps("adam", randn(rng, 2, 2), [randn(rng, 2, 2) for _ in range(3)], {"lr": 0.01}),
        Case((w, g, z, z, 0), raises=ValueError, note="steps count from 1"),
    ]


# --------------------------------------------------------------------------- schedules

def _step_decay_visible():
    return [Case((0, 0.1, 3), note="epoch 0: lr0"), Case((2, 0.1, 3), note="still lr0 before epoch 3"),
            Case((3, 0.1, 3), note="epoch 3: lr0 · 0.1"), Case((7, 0.1, 3, 0.5), note="two decays of 0.5"),
            Case((10, 1.0, 1, 0.9), note="decay every epoch"),
            Case((1, 0.1, 0), raises=ValueError, note="step_size must be ≥ 1"),
            Case((-1, 0.1, 3), raises=ValueError, note="negative epoch")]


def _step_decay_hidden(rng):
    cases = [Case((int(rng.integers(0, 100)), float(rng.uniform(1e-4, 1)), int(rng.integers(1, 20)),
                   float(rng.uniform(0.05, 0.95)))) for _ in range(15)]
    return cases + [Case((3, 0.1, -2), raises=ValueError), Case((-5, 0.1, 2), raises=ValueError)]


def _cosine_visible():
    return [Case((0, 0.1, 10), note="epoch 0: lr0"), Case((5, 0.1, 10), note="half-way: the mean of lr0 and lr_min"),
            Case((10, 0.1, 10), note="epoch total: lr_min"), Case((3, 0.1, 10, 0.01), note="lr_min = 0.01"),
            Case((15, 0.1, 10, 0.01), note="after total the lr stays at lr_min"),
            Case((1, 0.1, 0), raises=ValueError, note="total must be ≥ 1"),
            Case((-1, 0.1, 10), raises=ValueError, note="negative epoch")]


def _cosine_hidden(rng):
    cases = []
    for _ in range(15):
        total = int(rng.integers(1, 60))
        cases.append(Case((int(rng.integers(0, total + 5)), float(rng.uniform(1e-4, 1)), total),
                          {"lr_min": float(rng.choice([0.0, 1e-5, 1e-3]))}))
    return cases + [Case((2, 0.1, -3), raises=ValueError), Case((-2, 0.1, 5), raises=ValueError)]


# --------------------------------------------------------------------------- initialisation

def _fans_visible():
    return [Case(((10, 5),), note="Linear(5, 10): weight (D_out, D_in) = (10, 5)"),
            Case(((16, 6, 5, 5),), note="Conv2d(6, 16, 5): receptive field 5·5 multiplies both fans"),
            Case(((8, 3, 4),), note="Conv1d"), Case(((2, 3, 1, 1),), note="1×1 kernel"),
            Case(((7,),), raises=ValueError, note="a bias vector has no fans")]


def _fans_hidden(rng):
    cases = [Case((tuple(int(s) for s in rng.integers(1, 9, size=int(rng.integers(2, 6)))),)) for _ in range(12)]
    return cases + [Case(((4,),), raises=ValueError), Case(((),), raises=ValueError)]


def _seeded(seed):
    return np.random.default_rng(seed)


def _xavier_visible():
    return [Case(((3, 4), _seeded(0)), note="Linear(4, 3): bound √(6/7)"),
            Case(((16, 6, 5, 5), _seeded(1)), note="conv weight: fans include the 5×5 kernel"),
            Case(((5, 5), _seeded(2)), {"gain": 5 / 3}, note="gain for tanh"),
            Case(((4,), _seeded(3)), raises=ValueError, note="1-D shape: no fans")]


def _xavier_hidden(rng):
    return [Case((tuple(int(s) for s in rng.integers(1, 7, size=int(rng.integers(2, 5)))),
                  _seeded(int(rng.integers(2**31)))), {"gain": float(rng.choice([1.0, 5 / 3, 2 ** 0.5]))})
            for _ in range(10)]


_NONLINEARITIES = ("relu", "leaky_relu", "tanh", "linear", "sigmoid")


def _kaiming_visible():
    return [Case(((64, 32), _seeded(0)), {"nonlinearity": "relu"}, note="ReLU: std = √(2 / fan_in)"),
            Case(((8, 3, 3, 3), _seeded(1)), {"nonlinearity": "relu"}, note="conv weight: fan_in = 3·3·3"),
            Case(((6, 4), _seeded(2)), note="defaults: leaky_relu with a = 0, i.e. the same gain as ReLU"),
            Case(((6, 4), _seeded(3)), {"a": 0.2, "nonlinearity": "leaky_relu"}, note="leaky ReLU, slope 0.2"),
            Case(((6, 4), _seeded(4)), {"mode": "fan_out", "nonlinearity": "relu"}, note="mode='fan_out'"),
            Case(((6, 4), _seeded(5)), {"nonlinearity": "tanh"}, note="tanh: gain 5/3"),
            Case(((6, 4), _seeded(6)), {"nonlinearity": "linear"}, note="linear: gain 1"),
            Case(((6, 4), _seeded(7)), {"mode": "fan_avg"}, raises=ValueError, note="unknown mode")]


def _kaiming_hidden(rng):
    cases = []
    for _ in range(12):
        shape = tuple(int(s) for s in rng.integers(1, 7, size=int(rng.integers(2, 5))))
        cases.append(Case((shape, _seeded(int(rng.integers(2**31)))),
                          {"a": float(rng.choice([0.0, 0.1, 0.5])), "mode": str(rng.choice(["fan_in", "fan_out"])),
                           "nonlinearity": str(rng.choice(_NONLINEARITIES))}))
    return cases + [Case(((3, 3), _seeded(0)), {"mode": "both"}, raises=ValueError)]


# --------------------------------------------------------------------------- mini-batches

def _minibatches_ref(n, batch_size, rng=None, shuffle=True, drop_last=False):
    return tuple(optim.minibatches(n, batch_size, rng, shuffle, drop_last))


def _minibatches_visible():
    return [Case((10, 4, _seeded(0)), note="10 examples in batches of 4: sizes 4, 4, 2"),
            Case((10, 4, None), {"shuffle": False}, note="shuffle=False keeps the order 0 … 9"),
            Case((10, 4, _seeded(1)), {"drop_last": True}, note="drop_last: two batches of 4"),
            Case((9, 3, _seeded(2)), note="9 = 3 batches of 3"),
            Case((3, 8, _seeded(3)), note="one batch smaller than batch_size"),
            Case((10, 0, _seeded(4)), raises=ValueError, note="batch_size must be ≥ 1")]


def _minibatches_hidden(rng):
    cases = [Case((int(rng.integers(0, 60)), int(rng.integers(1, 17)), _seeded(int(rng.integers(2**31)))),
                  {"shuffle": bool(rng.random() < 0.8), "drop_last": bool(rng.random() < 0.4)}) for _ in range(12)]
    return cases + [Case((5, -1, _seeded(0)), raises=ValueError)]


_RNG_HINT = ("Draw with the given rng exactly as the exercise says (one call for the whole array), "
             "after computing the bound / std from the fans.")

EXERCISES = {ex.name: ex for ex in [
    Exercise("sgd_step", optim.sgd_step, _sgd_visible, _hidden_sequences("sgd"),
             output_names=("w", "momentum_buffer"), extra=_carry_extra("sgd"), **_OPT_TOL),
    Exercise("rmsprop_step", optim.rmsprop_step, _rmsprop_visible, _hidden_sequences("rmsprop"),
             output_names=("w", "square_avg"), extra=_carry_extra("rmsprop"), **_OPT_TOL),
    Exercise("adam_step", optim.adam_step, _adam_visible, _hidden_sequences("adam"),
             output_names=("w", "exp_avg", "exp_avg_sq"), extra=_carry_extra("adam"), **_OPT_TOL),
    Exercise("step_decay", optim.step_decay, _step_decay_visible, _step_decay_hidden),
    Exercise("cosine_lr", optim.cosine_lr, _cosine_visible, _cosine_hidden),
    Exercise("fan_in_and_fan_out", optim.fan_in_and_fan_out, _fans_visible, _fans_hidden,
             output_names=("fan_in", "fan_out")),
    Exercise("xavier_uniform", optim.xavier_uniform, _xavier_visible, _xavier_hidden, hint=_RNG_HINT),
    Exercise("kaiming_normal", optim.kaiming_normal, _kaiming_visible, _kaiming_hidden, hint=_RNG_HINT),
    Exercise("minibatches", _minibatches_ref, _minibatches_visible, _minibatches_hidden,
             hint="Use order = rng.permutation(n) when shuffling, then slice it into consecutive batches."),
]}
