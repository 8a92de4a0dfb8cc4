"""Chapter 13's experiments: small GANs on the 8-Gaussian ring and a DCGAN on the 8×8 digits.

Not a reference module (students may use it freely): models, training loops with a tqdm bar that
feed a :class:`course_lib.viz.gan.GANMonitor`, and a digits classifier that scores generated digits.
The losses are torch versions of :mod:`course_lib.reference.gan`'s; the WGAN-GP penalty can be the student's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_lib.data import sample_ring

__all__ = ["DCDiscriminator", "DCGenerator", "GANRun", "LOSSES", "mlp", "score_digits", "train_dcgan",
           "train_digit_classifier", "train_ring_gan"]


def _d_loss(real, fake):
    return F.softplus(-real).mean() + F.softplus(fake).mean()


#: name -> (discriminator/critic loss, generator loss), on logits / critic scores (torch).
LOSSES: dict[str, tuple[Callable, Callable]] = {
    "saturating": (_d_loss, lambda fake: -F.softplus(fake).mean()),
    "non-saturating": (_d_loss, lambda fake: F.softplus(-fake).mean()),
    "wasserstein": (lambda real, fake: fake.mean() - real.mean(), lambda fake: -fake.mean()),
}


def mlp(sizes, activation=nn.ReLU):
    """``Linear → activation → ... → Linear`` for layer sizes like ``(2, 64, 64, 1)``."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


@dataclass
class GANRun:
    """What a training run leaves behind: the models and per-step / per-snapshot records."""

    generator: nn.Module
    discriminator: nn.Module
    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    d_real: list[float] = field(default_factory=list)     # mean D(x) (sigmoid of the logit; raw critic for WGAN)
    d_fake: list[float] = field(default_factory=list)     # mean D(G(z))
    seconds: float = 0.0

    @torch.no_grad()
    def sample(self, n, seed=0):
        """n generator samples as a numpy array (evaluation mode, fixed noise seed)."""
        was = self.generator.training
        self.generator.eval()
        z = torch.randn(n, self.generator.z_dim, generator=torch.Generator().manual_seed(seed))
        out = self.generator(z).numpy()
        self.generator.train(was)
        return out


class _Generator2D(nn.Module):
    def __init__(self, z_dim, hidden):
        super().__init__()
        self.z_dim = z_dim
        self.net = mlp((z_dim, hidden, hidden, 2))

    def forward(self, z):
        return self.net(z)


def train_ring_gan(loss="non-saturating", steps=1000, batch_size=128, lr=1e-3, betas=(0.5, 0.999), hidden=64,
                   z_dim=2, d_steps=1, g_steps=1, clip=None, gp_weight=0.0, penalty_fn=None, std=0.05, seed=0,
                   monitor=None, every=100, progress=True, desc=None) -> GANRun:
    """Train an MLP GAN on the 8-Gaussian ring (radius 2, ``std``) with Adam.

    Args:
        loss: a key of :data:`LOSSES`. For "wasserstein" give ``clip`` (weight clipping to
            [-clip, clip]) or ``gp_weight`` (WGAN-GP with ``penalty_fn``, default
            :func:`course_lib.reference.gan.gradient_penalty`).
        d_steps, g_steps: discriminator (critic) and generator updates per step.
        monitor: a :class:`course_lib.viz.gan.GANMonitor`; gets a snapshot every ``every`` steps.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    d_loss_fn, g_loss_fn = LOSSES[loss]
    if penalty_fn is None:
        # The notebook passes the student's gradient_penalty; without one the answer is the default,
        # imported here so that this experiment module imports without the answers.
        from course_lib.reference.gan import gradient_penalty as penalty_fn
    G, D = _Generator2D(z_dim, hidden), mlp((2, hidden, hidden, 1))
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas, foreach=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas, foreach=True)
    run = GANRun(G, D)
    z_fixed = torch.randn(512, z_dim, generator=torch.Generator().manual_seed(seed + 1))
    wgan = loss == "wasserstein"
    start = time.perf_counter()
    for step in tqdm(range(steps), desc=desc or f"GAN ({loss})", disable=not progress, mininterval=0.5):
        for _ in range(d_steps):
            real = torch.from_numpy(sample_ring(batch_size, std=std, rng=rng))
            fake = G(torch.randn(batch_size, z_dim)).detach()
            lr_, lf = D(real).squeeze(1), D(fake).squeeze(1)
            d_loss = d_loss_fn(lr_, lf)
            if gp_weight:
                d_loss = d_loss + gp_weight * penalty_fn(D, real, fake, torch.rand(batch_size))
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            if clip is not None:
                with torch.no_grad():
                    for p in D.parameters():
                        p.clamp_(-clip, clip)
        for _ in range(g_steps):
            lf = D(G(torch.randn(batch_size, z_dim))).squeeze(1)
            g_loss = g_loss_fn(lf)
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
        run.d_loss.append(d_loss.item())
        run.g_loss.append(g_loss.item())
        squash = (lambda t: float(t.mean())) if wgan else (lambda t: float(torch.sigmoid(t).mean()))
        run.d_real.append(squash(lr_.detach()))
        run.d_fake.append(squash(lf.detach()))
        if monitor is not None and ((step + 1) % every == 0 or step == 0):
            with torch.no_grad():
                monitor.record(step + 1, G(z_fixed).numpy(), d_loss=run.d_loss, g_loss=run.g_loss,
                               d_real=run.d_real, d_fake=run.d_fake)
    run.seconds = time.perf_counter() - start
    return run


# --------------------------------------------------------------------------- DCGAN on the 8×8 digits

class DCGenerator(nn.Module):
    """z (N, z_dim) → Linear → (N, 4c, 2, 2) → ConvT 4/2/1 → (N, 2c, 4, 4) → ConvT 4/2/1 → (N, 1, 8, 8).

    BatchNorm and ReLU between the layers, a sigmoid at the end (pixels in [0, 1]), as in DCGAN
    (Radford et al., 2015) but sized for 8×8 images.
    """

    def __init__(self, z_dim=32, c=16):
        super().__init__()
        self.z_dim = z_dim
        self.project = nn.Sequential(nn.Linear(z_dim, 4 * c * 2 * 2), nn.BatchNorm1d(4 * c * 2 * 2), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(4 * c, 2 * c, 4, 2, 1), nn.BatchNorm2d(2 * c), nn.ReLU(),
            nn.ConvTranspose2d(2 * c, 1, 4, 2, 1), nn.Sigmoid())
        self.c = c

    def forward(self, z):
        return self.net(self.project(z).reshape(len(z), 4 * self.c, 2, 2))


class DCDiscriminator(nn.Module):
    """(N, 1, 8, 8) → Conv 4/2/1 → (N, c, 4, 4) → Conv 4/2/1 → (N, 2c, 2, 2) → Linear → (N, 1) logits.

    LeakyReLU(0.2) and no BatchNorm in the first layer, as DCGAN recommends.
    """

    def __init__(self, c=16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, c, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, 2, 1), nn.BatchNorm2d(2 * c), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * c * 2 * 2, 1))

    def forward(self, x):
        return self.net(x)


def train_dcgan(images, epochs=20, batch_size=64, lr=2e-3, betas=(0.5, 0.999), z_dim=32, c=16, seed=0,
                monitor=None, progress=True) -> GANRun:
    """Train :class:`DCGenerator` / :class:`DCDiscriminator` with the non-saturating loss on images (N, 1, 8, 8)."""
    torch.manual_seed(seed)
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))
    G, D = DCGenerator(z_dim, c), DCDiscriminator(c)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas, foreach=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas, foreach=True)
    d_loss_fn, g_loss_fn = LOSSES["non-saturating"]
    run = GANRun(G, D)
    z_fixed = torch.randn(64, z_dim, generator=torch.Generator().manual_seed(seed + 1))
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for epoch in tqdm(range(epochs), desc="DCGAN", unit="epoch", disable=not progress):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x) - batch_size + 1, batch_size):
            real = x[order[i:i + batch_size]]
            fake = G(torch.randn(batch_size, z_dim))
            lr_, lf = D(real).squeeze(1), D(fake.detach()).squeeze(1)
            d_loss = d_loss_fn(lr_, lf)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            lg = D(fake).squeeze(1)
            g_loss = g_loss_fn(lg)
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            run.d_loss.append(d_loss.item())
            run.g_loss.append(g_loss.item())
            run.d_real.append(float(torch.sigmoid(lr_.detach()).mean()))
            run.d_fake.append(float(torch.sigmoid(lf.detach()).mean()))
        if monitor is not None:
            G.eval()
            with torch.no_grad():
                monitor.record(epoch + 1, G(z_fixed).numpy(), d_loss=run.d_loss, g_loss=run.g_loss,
                               d_real=run.d_real, d_fake=run.d_fake)
            G.train()
    run.seconds = time.perf_counter() - start
    return run


def train_digit_classifier(epochs=30, seed=0, progress=True):
    """An MLP 64 → 128 → 10 on the 8×8 digits, trained with course_lib.train.fit; returns (model, test accuracy)."""
    from course_lib.data import digits_split
    from course_lib.train import evaluate, fit

    X_train, y_train, X_test, y_test = digits_split(seed=0)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), mlp((64, 128, 10)))
    fit(model, (X_train, y_train), epochs=epochs, batch_size=64, lr=3e-3, seed=seed, progress=progress,
        desc="digit classifier")
    return model, evaluate(model, X_test, y_test)[1]


@torch.no_grad()
def score_digits(classifier, images, threshold=0.9):
    """Classify generated digits: (predicted class (N,), confidence (N,), fraction ≥ threshold, histogram (10,))."""
    classifier.eval()
    p = torch.softmax(classifier(torch.as_tensor(np.asarray(images, dtype=np.float32))), dim=1)
    conf, pred = p.max(dim=1)
    pred, conf = pred.numpy(), conf.numpy()
    return pred, conf, float((conf >= threshold).mean()), np.bincount(pred, minlength=10)
