"""Exercise specifications for Chapter 13 (generative adversarial networks).

The losses and the mode-coverage metric are numpy exercises (torch switched off). The gradient
penalty is a torch exercise: the student's penalty must match the reference's value *and* its
gradient with respect to the critic's weights (which needs ``create_graph=True``); the reference
side returns a :class:`PenaltyExpectation` whose ``__eq__`` runs these checks and explains the first
difference (when graded: the kernel records value and gradients, the grader compares).
"""

from __future__ import annotations

import math

import numpy as np

from course_lib.data import ring_centers

from ._cases import randn
from .core import REFERENCE_PACKAGE, Case, CheckFailure, Exercise, Expectation, answers

gan = answers("gan")  # the answers, imported when first used

__all__ = ["EXERCISES", "PenaltyExpectation"]

_STABLE = ("Large logits overflow np.exp: use softplus(t) = log(1 + e^t) = max(t, 0) + log1p(exp(-|t|)), "
           "or np.logaddexp(0, t).")


def _logit_cases(rng, two=True):
    cases = []
    for _ in range(10):
        n, m = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        scale = float(rng.choice([0.1, 1.0, 5.0, 50.0]))
        dtype = np.float32 if rng.random() < 0.2 else np.float64
        real, fake = randn(rng, n, dtype=dtype) * scale, randn(rng, m, dtype=dtype) * scale
        if rng.random() < 0.3:
            real, fake = real.reshape(-1, 1), fake.reshape(-1, 1)
        cases.append(Case((real, fake) if two else (fake,)))
    extreme = np.array([-800.0, -30.0, 0.0, 30.0, 800.0])
    cases.append(Case((extreme, -extreme) if two else (extreme,), note="logits ±800: " + _STABLE))
    return cases


# --------------------------------------------------------------------------- discriminator_loss

def _d_visible():
    rng = np.random.default_rng(130)
    return [
        Case((np.zeros(4), np.zeros(4)), note="D(x) = 0.5 everywhere: 2·log 2 ≈ 1.386"),
        Case((np.array([3.0, 2.0, 4.0]), np.array([-3.0, -5.0])), note="a good discriminator: small loss"),
        Case((randn(rng, 6), randn(rng, 9)), note="different numbers of real and fake samples"),
        Case((randn(rng, 5, 1), randn(rng, 5, 1)), note="logits of shape (N, 1), as nn.Linear(…, 1) gives"),
        Case((np.array([1000.0, -1000.0]), np.array([1000.0, -1000.0])), note="huge logits: " + _STABLE),
    ]


# --------------------------------------------------------------------------- generator losses

def _g_visible():
    rng = np.random.default_rng(131)
    return [
        Case((np.zeros(3),), note="D(G(z)) = 0.5: log 2 in magnitude"),
        Case((np.array([-4.0, -6.0, 2.0]),), note="mostly rejected fakes"),
        Case((randn(rng, 7, 1),), note="shape (N, 1)"),
        Case((np.array([-1000.0, 1000.0]),), note="huge logits: " + _STABLE),
    ]


def _grads_visible():
    return [
        Case((np.array([0.0]),), note="D = 0.5: both gradients have size 0.5"),
        Case((np.array([-5.0, 0.0, 5.0]),), note="D ≈ 0.007, 0.5, 0.993"),
        Case((np.array([[-40.0, 40.0], [1.0, -1.0]]),), note="keep the shape; no overflow at ±40"),
        Case((np.array([-1000.0, 1000.0]),), note="huge logits: sigmoid without overflow"),
    ]


def _grads_hidden(rng):
    return [Case((c.args[0],)) for c in _logit_cases(rng, two=False)]


# --------------------------------------------------------------------------- wasserstein_losses

def _w_visible():
    rng = np.random.default_rng(132)
    return [
        Case((np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.0])), note="critic 2 − (−0.5): loss −2.5"),
        Case((randn(rng, 6, 1), randn(rng, 4, 1)), note="critic outputs of shape (N, 1)"),
        Case((np.zeros(3), np.zeros(3)), note="a critic that cannot tell: both losses 0"),
    ]


def _w_hidden(rng):
    return [Case(c.args) for c in _logit_cases(rng)]


# --------------------------------------------------------------------------- mode_coverage

def _mixture(rng, n, centers, std, weights=None, spread=1.0):
    idx = rng.choice(len(centers), size=n, p=weights)
    return centers[idx] + std * spread * rng.standard_normal((n, centers.shape[1]))


def _cov_visible():
    rng = np.random.default_rng(133)
    c8 = ring_centers(8, 2.0)
    collapsed = c8[[2]] + 0.05 * rng.standard_normal((200, 2))
    return [
        Case((np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]), np.array([[0.0, 0.0], [1.0, 1.2]]), 0.1),
             note="distances 0, 0.2 (within 3σ = 0.3) and far away"),
        Case((_mixture(rng, 400, c8, 0.05), c8, 0.05), note="samples from the mixture itself: 8 modes"),
        Case((collapsed, c8, 0.05), note="mode collapse: every sample near centre 2"),
        Case((_mixture(rng, 300, c8, 0.05, spread=4.0), c8, 0.05), note="blurry samples: lower quality"),
        Case((_mixture(rng, 200, c8[:3], 0.05), c8, 0.05), {"min_count": 10}, note="min_count given"),
        Case((np.zeros((5, 3)), c8, 0.05), raises=ValueError, note="samples in 3-D, centres in 2-D"),
    ]


def _cov_hidden(rng):
    cases = []
    for _ in range(10):
        k, d = int(rng.integers(1, 10)), int(rng.integers(1, 4))
        centers = randn(rng, k, d) * 3
        std = float(rng.uniform(0.05, 0.5))
        weights = rng.dirichlet(np.ones(k) * rng.choice([0.2, 1.0, 5.0]))
        x = _mixture(rng, int(rng.integers(1, 500)), centers, std, weights, spread=float(rng.uniform(0.5, 3)))
        kwargs = {"min_count": int(rng.integers(1, 20))} if rng.random() < 0.4 else {}
        cases.append(Case((x, centers, std), kwargs))
    cases.append(Case((np.zeros((4, 2)), np.array([[-1.0, 0.0], [1.0, 0.0]]), 0.5),
                      note="ties: the first nearest centre wins (like argmin)"))
    cases.append(Case((np.zeros((3, 2)), np.zeros((2, 3)), 0.1), raises=ValueError))
    return cases


# --------------------------------------------------------------------------- gradient_penalty (torch)

class PenaltyExpectation(Expectation):
    """The reference penalty for one case; ``got == expectation`` checks a student's tensor.

    :meth:`probe` (the student's kernel) records the value and, when the tensor has a graph, its
    gradient with respect to the critic's weights; :meth:`verify` (the grader) compares both.
    """

    _CALL = "gradient_penalty(critic, real, fake, alpha)"

    def __init__(self, critic, real, fake, alpha):
        self.critic, self.real, self.fake, self.alpha = critic, real, fake, alpha

    def _reference(self) -> tuple[float, list]:
        from course_lib.reference import (
            gan as reference,  # imported here: a probe sent to a judge process refers to no answer
        )

        ref = reference.gradient_penalty(self.critic, self.real, self.fake, self.alpha)
        return float(ref.detach()), self._grads(ref)

    def _grads(self, penalty) -> list:
        """d penalty / d each critic weight (zeros where unused: the last bias does not act on ∇x)."""
        import torch

        params = list(self.critic.parameters())
        grads = torch.autograd.grad(penalty, params, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g.detach() for p, g in zip(params, grads, strict=True)]

    def __repr__(self):
        return "the reference's penalty (a scalar tensor with a graph)"

    def probe(self, got) -> dict:
        __tracebackhide__ = True
        import torch

        if isinstance(got, PenaltyExpectation):      # the reference checked against itself (tests/test_checks.py)
            value, grads = got._reference()
            return {"shape": [], "value": value, "graph": True, "grads": grads, "grad_error": None}
        if not isinstance(got, torch.Tensor):
            raise CheckFailure(f"{self._CALL} should return a torch tensor (a scalar), got {type(got).__name__}. "
                               "Did you forget a `return`?")
        data = {"shape": list(got.shape), "value": None, "graph": got.grad_fn is not None, "grads": None,
                "grad_error": None}
        if got.numel() != 1:
            return data
        data["value"] = float(got.detach())
        if data["graph"]:
            try:
                data["grads"] = self._grads(got)
            except RuntimeError as err:
                data["grad_error"] = str(err)[:1000]
        return data

    def verify(self, data: dict) -> None:
        __tracebackhide__ = True
        import torch

        call = self._CALL
        shape = tuple(int(s) for s in data["shape"])
        if math.prod(shape) != 1:
            raise CheckFailure(f"{call} returned a tensor of shape {shape}: average the per-sample "
                               "penalties (||∇||₂ − 1)² over the batch to get a scalar.")
        ref_value, ref_grads = self._reference()
        value = float(data["value"])
        if not np.isclose(value, ref_value, rtol=1e-4, atol=1e-6):
            raise CheckFailure(
                f"{call} is {value:.6g}, expected {ref_value:.6g}. Interpolate x̂ = α·real + (1 − α)·fake "
                "(α of shape (N,) reshaped to broadcast over the other axes), take the gradient of "
                "critic(x̂).sum() with respect to x̂, its L2 norm per sample over *all* other axes, then "
                "mean((norm − 1)²).")
        if not data["graph"]:
            raise CheckFailure(f"{call} has the right value but no graph: the critic cannot be trained with it. "
                               "Pass create_graph=True to torch.autograd.grad (and do not .detach() or .item()).")
        if data["grads"] is None:
            raise CheckFailure(f"{call} has the right value, but its gradient with respect to the critic's "
                               f"weights cannot be taken ({data['grad_error']}). Use create_graph=True.")
        names = [name for name, _ in self.critic.named_parameters()]
        if len(data["grads"]) != len(names):
            raise CheckFailure(f"{call}: {len(data['grads'])} gradients were recorded for {len(names)} parameters.")
        for name, g, r in zip(names, data["grads"], ref_grads, strict=True):
            g = torch.as_tensor(np.asarray(g))
            if g.shape != r.shape or not torch.allclose(g, r, rtol=1e-4, atol=1e-6):
                raise CheckFailure(
                    f"{call} has the right value, but its gradient with respect to the critic's `{name}` "
                    "is wrong. Did you compute the gradient with create_graph=True, on x̂ made from *detached* real "
                    "and fake samples?")


def _critic(seed, d_in, hidden=8):
    import torch
    from torch import nn

    class SharedCritic(nn.Sequential):
        """A critic that the engine does not copy: the reference and the student use the same weights."""

        def __deepcopy__(self, memo):
            return self

    torch.manual_seed(seed)
    return SharedCritic(nn.Flatten(), nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, 1)).double()


def _gp_case(seed, shape, note=""):
    import torch

    gen = torch.Generator().manual_seed(seed)
    n, d_in = shape[0], int(np.prod(shape[1:]))
    real = torch.randn(shape, generator=gen, dtype=torch.float64)
    fake = torch.randn(shape, generator=gen, dtype=torch.float64)
    alpha = torch.rand(n, generator=gen, dtype=torch.float64)
    return Case((_critic(seed, d_in), real, fake, alpha), note=note)


def _gp_reference(critic, real, fake, alpha):
    return PenaltyExpectation(critic, real, fake, alpha)


def _gp_visible():
    return [_gp_case(1, (4, 2), note="2-D points, as on the ring"),
            _gp_case(2, (3, 1, 4, 4), note="images (N, 1, 4, 4): the norm runs over C, H and W")]


def _gp_hidden(rng):
    shapes = [(int(rng.integers(1, 8)), 2) for _ in range(3)]
    shapes += [(int(rng.integers(1, 5)), int(rng.integers(1, 3)), int(rng.integers(2, 5)), int(rng.integers(2, 5)))
               for _ in range(3)]
    return [_gp_case(int(rng.integers(0, 10_000)), s) for s in shapes]


# --------------------------------------------------------------------------- registry

EXERCISES = {
    "discriminator_loss": Exercise("discriminator_loss", gan.discriminator_loss, _d_visible,
                                   lambda rng: _logit_cases(rng) + [Case((np.ones(3), np.ones(0)), raises=ValueError)],
                                   rtol=1e-5, atol=1e-6),
    "minimax_generator_loss": Exercise("minimax_generator_loss", gan.minimax_generator_loss, _g_visible,
                                       lambda rng: _logit_cases(rng, two=False), rtol=1e-5, atol=1e-6),
    "generator_loss": Exercise("generator_loss", gan.generator_loss, _g_visible,
                               lambda rng: _logit_cases(rng, two=False), rtol=1e-5, atol=1e-6),
    "generator_logit_grads": Exercise("generator_logit_grads", gan.generator_logit_grads, _grads_visible,
                                      _grads_hidden, rtol=1e-5, atol=1e-7,
                                      output_names=("grad_saturating", "grad_non_saturating")),
    "wasserstein_losses": Exercise("wasserstein_losses", gan.wasserstein_losses, _w_visible, _w_hidden,
                                   rtol=1e-5, atol=1e-6, output_names=("critic_loss", "generator_loss")),
    "mode_coverage": Exercise("mode_coverage", gan.mode_coverage, _cov_visible, _cov_hidden,
                              output_names=("counts", "modes", "high_quality"),
                              hint="counts has one entry per centre (K,)."),
    "gradient_penalty": Exercise("gradient_penalty", _gp_reference, _gp_visible, _gp_hidden,
                                 forbid=(REFERENCE_PACKAGE,)),
}
