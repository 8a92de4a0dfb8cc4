"""course_lib.reference.gan against torch (losses, autograd, double backward), numerical gradients, and the
Chapter 13 check specs against plausible wrong answers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import data
from course_lib.gradcheck import rel_error
from course_lib.reference import gan
from course_lib.reference.mlp import numerical_gradient
from course_lib.testing import EXERCISES, CheckFailure, check, hidden_check
from course_lib.testing.core import run_exercise

SEEDS = st.integers(0, 2**32 - 1)


def _logits(seed, n, scale):
    return np.random.default_rng(seed).standard_normal(n) * scale


@settings(deadline=None, max_examples=25)
@given(seed=SEEDS, n=st.integers(1, 30), m=st.integers(1, 30), scale=st.sampled_from([0.1, 1.0, 10.0, 100.0]))
def test_gan_losses_match_torch_bce(seed, n, m, scale):
    real, fake = _logits(seed, n, scale), _logits(seed + 1, m, scale)
    tr, tf = torch.from_numpy(real), torch.from_numpy(fake)
    d = (F.binary_cross_entropy_with_logits(tr, torch.ones_like(tr))
         + F.binary_cross_entropy_with_logits(tf, torch.zeros_like(tf)))
    np.testing.assert_allclose(gan.discriminator_loss(real, fake), d.item(), rtol=1e-10, atol=1e-12)
    ns = F.binary_cross_entropy_with_logits(tf, torch.ones_like(tf))           # "label the fakes real"
    np.testing.assert_allclose(gan.generator_loss(fake), ns.item(), rtol=1e-10, atol=1e-12)
    sat = -F.binary_cross_entropy_with_logits(tf, torch.zeros_like(tf))        # mean log(1 - D)
    np.testing.assert_allclose(gan.minimax_generator_loss(fake), sat.item(), rtol=1e-10, atol=1e-12)
    # torch returns x itself above its threshold 20 (off by log1p(e^-x) < 2e-9)
    np.testing.assert_allclose(gan.softplus(fake), F.softplus(tf).numpy(), rtol=1e-8, atol=1e-300)


@settings(deadline=None, max_examples=25)
@given(seed=SEEDS, n=st.integers(1, 20), scale=st.sampled_from([0.5, 5.0, 40.0]))
def test_generator_logit_grads_match_autograd(seed, n, scale):
    x = torch.tensor(_logits(seed, n, scale), requires_grad=True)
    (sat,) = torch.autograd.grad(F.logsigmoid(-x).sum(), x)                     # log(1 - σ(x)) = logσ(-x)
    (ns,) = torch.autograd.grad((-F.logsigmoid(x)).sum(), x)
    g_sat, g_ns = gan.generator_logit_grads(x.detach().numpy())
    np.testing.assert_allclose(g_sat, sat.numpy(), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(g_ns, ns.numpy(), rtol=1e-9, atol=1e-15)


def test_generator_logit_grads_match_numerical_gradients():
    x = np.random.default_rng(0).standard_normal((3, 4)) * 3
    g_sat, g_ns = gan.generator_logit_grads(x)
    # the losses are means: their gradient is the per-sample derivative divided by N
    num_sat = numerical_gradient(lambda v: np.array(gan.minimax_generator_loss(v)), x.copy())
    num_ns = numerical_gradient(lambda v: np.array(gan.generator_loss(v)), x.copy())
    assert rel_error(g_sat / x.size, num_sat) < 1e-7
    assert rel_error(g_ns / x.size, num_ns) < 1e-7


def test_losses_are_stable_and_validate():
    huge = np.array([-1e4, 1e4])
    assert np.isfinite(gan.discriminator_loss(huge, huge))
    np.testing.assert_allclose(gan.generator_loss(np.array([-1e4])), 1e4)
    g_sat, g_ns = gan.generator_logit_grads(huge)
    np.testing.assert_array_equal(g_sat, [-0.0, -1.0])
    np.testing.assert_array_equal(g_ns, [-1.0, 0.0])
    np.testing.assert_allclose(gan.discriminator_loss(np.zeros(3), np.zeros(5)), 2 * np.log(2))
    with pytest.raises(ValueError, match="logits_fake is empty"):
        gan.discriminator_loss(np.ones(2), np.ones(0))
    with pytest.raises(ValueError, match="numeric"):
        gan.generator_loss(np.array(["a"]))
    assert gan.wasserstein_losses(np.array([1.0, 3.0]), np.array([0.5])) == (-1.5, -0.5)


def _critic(d_in, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(d_in, 16), torch.nn.Tanh(),
                               torch.nn.Linear(16, 1)).double()


@settings(deadline=None, max_examples=15)
@given(seed=SEEDS, shape=st.sampled_from([(5, 2), (3, 1, 4, 4), (1, 3), (4, 2, 3, 2)]))
def test_gradient_penalty_matches_torch_func(seed, shape):
    """Against per-sample gradients from torch.func (vmap of grad), and double backward by gradcheck."""
    gen = torch.Generator().manual_seed(seed % 2**31)
    real, fake = (torch.randn(shape, generator=gen, dtype=torch.float64) for _ in range(2))
    alpha = torch.rand(shape[0], generator=gen, dtype=torch.float64)
    critic = _critic(int(np.prod(shape[1:])), seed % 1000)
    pen = gan.gradient_penalty(critic, real, fake, alpha)
    a = alpha.reshape(-1, *([1] * (len(shape) - 1)))
    x_hat = a * real + (1 - a) * fake
    params = dict(critic.named_parameters())

    def score(p, x):
        return torch.func.functional_call(critic, p, (x[None],)).squeeze()

    per_sample = torch.func.vmap(torch.func.grad(score, argnums=1), in_dims=(None, 0))(params, x_hat)
    expected = ((per_sample.reshape(shape[0], -1).norm(dim=1) - 1) ** 2).mean()
    torch.testing.assert_close(pen, expected, rtol=1e-10, atol=1e-12)
    # the penalty is differentiable w.r.t. the critic (create_graph=True): same gradients as torch.func
    got = torch.autograd.grad(pen, list(critic.parameters()), allow_unused=True)
    want = torch.autograd.grad(expected, list(critic.parameters()), allow_unused=True)
    for g, w in zip(got, want, strict=True):
        if w is not None:
            torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)


def test_gradient_penalty_of_a_linear_critic_and_bad_input():
    lin = torch.nn.Linear(3, 1, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[2.0, 0.0, 0.0]], dtype=torch.float64))
    x = torch.randn(4, 3, dtype=torch.float64)
    pen = gan.gradient_penalty(lin, x, -x, torch.rand(4, dtype=torch.float64))
    assert pen.item() == pytest.approx(1.0)
    pen.backward()
    torch.testing.assert_close(lin.weight.grad, torch.tensor([[2.0, 0.0, 0.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="one shape"):
        gan.gradient_penalty(lin, x, x[:2], torch.rand(4))
    with pytest.raises(ValueError, match=r"alpha must have shape \(4,\)"):
        gan.gradient_penalty(lin, x, x, torch.rand(4, 1))


def test_ring_and_mode_coverage():
    c = data.ring_centers(8, 2.0)
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 2.0)
    np.testing.assert_allclose(c[2], [0.0, 2.0], atol=1e-12)
    x = data.sample_ring(4000, std=0.05, rng=1)
    assert x.dtype == np.float32 and x.shape == (4000, 2)
    counts, modes, quality = gan.mode_coverage(x, c, 0.05)
    assert modes == 8 and counts.sum() == round(quality * 4000)
    assert abs(quality - (1 - np.exp(-4.5))) < 0.01                 # mass of a 2-D Gaussian within 3σ
    counts, modes, quality = gan.mode_coverage(np.repeat(c[[5]], 50, axis=0), c, 0.05)
    assert modes == 1 and counts[5] == 50 and quality == 1.0
    counts, modes, _ = gan.mode_coverage(x[:100], c, 0.05, min_count=1000)
    assert modes == 0
    with pytest.raises(ValueError, match="agree in D"):
        gan.mode_coverage(np.zeros((3, 3)), c, 0.05)
    with pytest.raises(ValueError, match="std"):
        gan.mode_coverage(x, c, 0.0)
    with pytest.raises(ValueError, match="k must be"):
        data.ring_centers(0)


# --------------------------------------------------------------------------- the check specs

@pytest.mark.parametrize("name", ["discriminator_loss", "minimax_generator_loss", "generator_loss",
                                  "generator_logit_grads", "wasserstein_losses", "mode_coverage",
                                  "gradient_penalty"])
def test_reference_passes_visible_and_hidden(name):
    ex = dataclasses.replace(EXERCISES[name], forbid=())
    fn = gan.gradient_penalty if name == "gradient_penalty" else ex.reference
    assert run_exercise(ex, fn, quiet=True) > 0
    assert run_exercise(ex, fn, hidden=True, seed=3, quiet=True) > 0


def test_naive_sigmoid_loss_is_caught_with_a_stability_hint():
    def naive(logits_real, logits_fake):
        sig = lambda t: 1 / (1 + np.exp(-t))  # noqa: E731
        return float(-np.log(sig(logits_real)).mean() - np.log(1 - sig(logits_fake)).mean())

    with pytest.raises(CheckFailure, match="softplus|logaddexp"), np.errstate(all="ignore"):
        check("discriminator_loss", naive)


def test_swapped_labels_are_caught():
    def swapped(logits_real, logits_fake):
        return float(np.logaddexp(0, logits_real).mean() + np.logaddexp(0, -logits_fake).mean())

    with pytest.raises(CheckFailure, match="expected 0.0"):
        check("discriminator_loss", swapped)


def test_saturating_and_non_saturating_mixed_up():
    with pytest.raises(CheckFailure, match="expected"):
        check("generator_loss", lambda fake: float(-np.logaddexp(0, fake).mean()))
    with pytest.raises(CheckFailure, match="grad_non_saturating"):
        check("generator_logit_grads", lambda x: (-1 / (1 + np.exp(-x)), 1 / (1 + np.exp(-x))))


def test_mode_coverage_mistakes_are_explained():
    def radius_not_3sigma(samples, centers, std, min_count=None):
        return gan.mode_coverage(samples, centers, std / 3, min_count)

    def wrong(samples, centers, std, min_count=None):
        return radius_not_3sigma(samples, centers, std, min_count)

    # the reference module is switched off: the student's function cannot lean on it
    with pytest.raises(CheckFailure, match="course_lib.reference.gan"):
        check("mode_coverage", wrong)
    ex = dataclasses.replace(EXERCISES["mode_coverage"], forbid=())
    with pytest.raises(CheckFailure, match=r"counts of mode_coverage.*wrong"):
        run_exercise(ex, radius_not_3sigma, quiet=True)


def _gp(create_graph=True, per_axis=False, detach=False):
    def penalty(critic, real, fake, alpha):
        a = alpha.reshape(-1, *([1] * (real.dim() - 1)))
        x = (a * real + (1 - a) * fake).requires_grad_(True)
        (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=create_graph)
        norms = g.norm(dim=-1) if per_axis else g.reshape(len(g), -1).norm(dim=1)
        out = ((norms - 1) ** 2).mean()
        return out.detach() if detach else out
    return penalty


def test_gradient_penalty_checks():
    check("gradient_penalty", _gp())
    hidden_check("gradient_penalty", _gp(), seed=11)
    with pytest.raises(CheckFailure, match="create_graph=True"):
        check("gradient_penalty", _gp(create_graph=False))
    with pytest.raises(CheckFailure, match="create_graph=True"):
        check("gradient_penalty", _gp(detach=True))
    with pytest.raises(CheckFailure, match="over \\*all\\* other axes"):
        check("gradient_penalty", _gp(per_axis=True))
    with pytest.raises(CheckFailure, match="should return a torch tensor"):
        check("gradient_penalty", lambda *a: 0.0)
    with pytest.raises(CheckFailure, match="scalar"):
        check("gradient_penalty", lambda critic, real, fake, alpha: real.sum(dim=1))
    with pytest.raises(CheckFailure, match="switched off"):
        check("gradient_penalty", gan.gradient_penalty)
