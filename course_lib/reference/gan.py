"""Generative adversarial networks (Chapter 13): losses, the gradient penalty, toy data, mode coverage.

The discriminator D outputs *logits* ``l``; ``D(x) = sigmoid(l)``. With ``softplus(t) = log(1 + e^t)``
(computed stably) the losses of Goodfellow et al. (2014) are

* discriminator: ``-mean log D(x) - mean log(1 - D(G(z))) = mean softplus(-l_real) + mean softplus(l_fake)``
* minimax (saturating) generator: ``mean log(1 - D(G(z))) = -mean softplus(l_fake)`` (minimised by G)
* non-saturating generator: ``-mean log D(G(z)) = mean softplus(-l_fake)``

and of the Wasserstein GAN (Arjovsky et al., 2017) with critic outputs ``c``:
critic ``mean c_fake - mean c_real``, generator ``-mean c_fake``; WGAN-GP (Gulrajani et al., 2017)
adds ``lambda * mean (||grad_x c(x_hat)||_2 - 1)^2`` at points ``x_hat`` between real and fake samples.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "discriminator_loss",
    "generator_logit_grads",
    "generator_loss",
    "gradient_penalty",
    "minimax_generator_loss",
    "mode_coverage",
    "softplus",
    "wasserstein_losses",
]


def _logits(x, name):
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a numeric array, got dtype {x.dtype}")
    if x.size == 0:
        raise ValueError(f"{name} is empty: a loss needs at least one sample")
    return x.astype(np.float64) if x.dtype.kind in "iu" else x


def softplus(x):
    """``log(1 + exp(x))`` without overflow: ``max(x, 0) + log1p(exp(-|x|))``. Same shape as ``x``."""
    x = np.asarray(x)
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def discriminator_loss(logits_real, logits_fake):
    """Binary cross-entropy of D: real samples labelled 1, generated ones 0.

    Args:
        logits_real: D's logits on real samples, any shape (N_real, ...).
        logits_fake: D's logits on generated samples, any shape (N_fake, ...).

    Returns:
        float ``mean softplus(-logits_real) + mean softplus(logits_fake)`` (each mean over its own
        samples), i.e. ``BCEWithLogits(real, 1) + BCEWithLogits(fake, 0)``.
    """
    real, fake = _logits(logits_real, "logits_real"), _logits(logits_fake, "logits_fake")
    return float(softplus(-real).mean() + softplus(fake).mean())


def minimax_generator_loss(logits_fake):
    """The original (saturating) generator loss ``mean log(1 - D(G(z))) = -mean softplus(logits_fake)``."""
    return float(-softplus(_logits(logits_fake, "logits_fake")).mean())


def generator_loss(logits_fake):
    """The non-saturating generator loss ``-mean log D(G(z)) = mean softplus(-logits_fake)``."""
    return float(softplus(-_logits(logits_fake, "logits_fake")).mean())


def generator_logit_grads(logits_fake):
    """Per-sample derivatives of both generator losses with respect to the logit ``l``.

    With ``D = sigmoid(l)``: ``d/dl log(1 - D) = -D`` (saturating) and ``d/dl -log D = D - 1``
    (non-saturating). Where D confidently rejects a fake (D → 0) the first vanishes, the second is −1.

    Returns:
        (grad_saturating, grad_non_saturating): arrays of the shape of ``logits_fake``.
    """
    x = _logits(logits_fake, "logits_fake")
    d = np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))
    return -d, d - 1


def wasserstein_losses(critic_real, critic_fake):
    """WGAN losses from critic scores (no sigmoid, no log).

    Returns:
        (critic_loss, generator_loss) = (mean critic_fake − mean critic_real, −mean critic_fake), floats.
        The critic minimises the first (so ``-critic_loss`` estimates the Wasserstein-1 distance
        when the critic is 1-Lipschitz), the generator the second.
    """
    real, fake = _logits(critic_real, "critic_real"), _logits(critic_fake, "critic_fake")
    return float(fake.mean() - real.mean()), float(-fake.mean())


def gradient_penalty(critic, real, fake, alpha):
    """WGAN-GP's penalty ``mean_i (||grad_x critic(x_hat_i)||_2 - 1)^2`` (without the weight lambda).

    Args:
        critic: a torch module (or function) mapping (N, ...) to (N,) or (N, 1) scores.
        real, fake: tensors of one shape (N, ...); ``fake`` may carry a graph (it is detached).
        alpha: tensor (N,) of mixing weights in [0, 1]; ``x_hat = alpha * real + (1 - alpha) * fake``.

    Returns:
        A scalar tensor that is differentiable with respect to the critic's parameters
        (``create_graph=True``), so ``penalty.backward()`` trains the critic.
    """
    import torch

    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} must have one shape")
    if alpha.shape != real.shape[:1]:
        raise ValueError(f"alpha must have shape ({real.shape[0]},) (one weight per sample), "
                         f"got {tuple(alpha.shape)}")
    a = alpha.reshape(-1, *([1] * (real.ndim - 1)))                  # (N, 1, ..., 1)
    x_hat = (a * real.detach() + (1 - a) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.reshape(len(grad), -1).norm(2, dim=1)               # (N,)
    return ((norms - 1) ** 2).mean()


def mode_coverage(samples, centers, std, min_count=None):
    """How many modes of a Gaussian mixture the samples reach, and how many samples are good.

    A sample is *high quality* if it lies within 3 ``std`` of its nearest centre; it then counts for
    that mode. A mode is *covered* if it received at least ``min_count`` high-quality samples
    (default: 1 % of the samples, at least 1).

    Args:
        samples: (N, D) generated points.
        centers: (K, D) the mixture's means.
        std: the mixture's standard deviation (a float > 0).
        min_count: high-quality samples a mode needs to count as covered.

    Returns:
        (counts, modes, high_quality): int64 array (K,) of high-quality samples per mode, the number
        of covered modes (int), and the fraction of high-quality samples (float).
    """
    x, c = np.asarray(samples), np.asarray(centers)
    if x.ndim != 2 or c.ndim != 2 or x.shape[1] != c.shape[1]:
        raise ValueError(f"samples (N, D) and centers (K, D) must agree in D; got {x.shape} and {c.shape}")
    if len(x) == 0 or len(c) == 0:
        raise ValueError(f"need at least one sample and one centre, got {x.shape} and {c.shape}")
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std}")
    if min_count is None:
        min_count = max(1, int(np.ceil(0.01 * len(x))))
    dist = np.linalg.norm(x[:, None, :] - c[None, :, :], axis=-1)    # (N, K)
    nearest = dist.argmin(axis=1)                                   # (N,)
    good = dist[np.arange(len(x)), nearest] <= 3 * std              # (N,)
    counts = np.bincount(nearest[good], minlength=len(c)).astype(np.int64)
    return counts, int((counts >= min_count).sum()), float(good.mean())
