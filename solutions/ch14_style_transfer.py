# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 14 — Neural style transfer
#
# Turn a photo into a painting: given a **content image** p (内容图像) and a **style image** a
# (风格图像), find an image x whose CNN features are close to p's at a deep layer and whose feature
# *statistics* are close to a's at many layers (Gatys, Ecker & Bethge, *Image Style Transfer Using
# Convolutional Neural Networks*, CVPR 2016). The lecture notes give the recipe:
#
# * the content loss uses the features of **one** layer (conv4) — the Euclidean distance between the
#   content image's features and those of the image being optimised;
# * the style loss uses **five** layers (conv1 … conv5) and represents style by the **correlation
#   matrix** (相关矩阵) of the feature maps — the **Gram matrix** (格拉姆矩阵);
# * "compute the loss, adjust the image": the network is fixed, the *pixels* are optimised.
#
# You write the losses; the course supplies the feature extractor and the optimisation loop, which
# calls *your* objective.
#
# | # | you write | points |
# |---|---|---|
# | 1 | `gram_matrix` — channel correlations of a feature map | 3 |
# | 2 | `content_loss` — Gatys' eq. 1 | 2 |
# | 3 | `style_layer_loss` — one layer's style distance E_l | 2 |
# | 4 | `style_loss` — the weighted sum over layers | 3 |
# | 5 | `tv_loss` — total variation, for smooth results | 2 |
# | 6 | `transfer_objective` — α·content + β·style + γ·TV | 3 |
#
# The checks run your functions on **numpy** arrays (with `torch` switched off), and the optimisation
# later calls the *same* functions on torch tensors, through which autograd differentiates. So write
# them with operations both share: `x.shape`, `x.reshape(...)`, `x.swapaxes(i, j)`, `@`, `**`,
# `.sum()`, `.mean()`, slicing — not `np.` functions and not `torch.` functions.
#
# **Key terms** ([glossary](../../docs/glossary.md)): neural style transfer 神经风格迁移 · content image 内容图像 · style image 风格图像 · content loss 内容损失 · style loss 风格损失 · Gram matrix 格拉姆矩阵 · total variation loss 全变分损失 · feature map 特征图 · random features 随机特征 · pre-trained weights 预训练权重

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from course_lib.reference.style import VGG19_WEIGHTS_ENV, feature_extractor, style_image, transfer, vgg19_features
from course_lib.testing import (
    check_content_loss,
    check_gram_matrix,
    check_style_layer_loss,
    check_style_loss,
    check_transfer_objective,
    check_tv_loss,
)
from course_lib.viz.style import StyleTransferExplorer

np.set_printoptions(precision=4, suppress=True)
torch.set_num_threads(1)


def show(images, titles, size=2.6):
    """Images (1, 3, H, W) in [0, 1] side by side."""
    fig, axes = plt.subplots(1, len(images), figsize=(size * len(images), size))
    for ax, img, title in zip(np.atleast_1d(axes), images, titles, strict=True):
        ax.imshow(np.clip(img[0].permute(1, 2, 0).numpy(), 0, 1))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    plt.show()


# %% [markdown]
# ## 1. Style as feature correlations: the Gram matrix
#
# At layer l a CNN turns the image into $N_l$ feature maps of $M_l = H_l W_l$ positions each. Flatten
# them into a matrix $F$ of shape $(N_l, M_l)$. Which features fire *together*, regardless of where,
# is a summary of texture — colours, strokes, patterns — that has forgotten the layout. That is the
# Gram matrix of inner products between feature maps:
#
# $$G_{ij} = \frac{1}{M_l}\sum_{k=1}^{M_l} F_{ik} F_{jk}, \qquad G = \frac{F F^\top}{H_l W_l}\quad (N_l \times N_l)$$
#
# (Gatys et al. use the sum without the $1/M_l$ and divide later; Section 3 shows the two agree.)
#
# **Exercise 1.** For a batch x of shape (N, C, H, W) return the Gram matrices (N, C, C). Raise a
# `ValueError` for input that is not 4-d. Use `reshape`, `swapaxes` and `@` (they work on arrays and
# tensors alike).

# %% nbgrader={"grade": false, "grade_id": "gram_matrix", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gram_matrix(x):
    """Gram matrices of feature maps.

    Args:
        x: features (N, C, H, W), a numpy array or a torch tensor.

    Returns:
        (N, C, C): F Fᵀ / (H·W) with F = x reshaped to (N, C, H·W).
    """
    ### BEGIN SOLUTION
    if len(x.shape) != 4:
        raise ValueError(f"x should be 4-d (N, C, H, W), got shape {tuple(x.shape)}")
    n, c, h, w = x.shape
    f = x.reshape(n, c, h * w)
    return f @ f.swapaxes(1, 2) / (h * w)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_gram_matrix", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "gram_matrix", "seed": 1401}
check_gram_matrix(gram_matrix)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("gram_matrix", gram_matrix, seed=1401)
### END HIDDEN TESTS

# %% [markdown]
# The same function on a torch tensor, with a gradient — and the promise kept: the layout is gone.
# Shuffling the positions of a feature map (the same permutation for every channel) leaves the
# Gram matrix unchanged:

# %%
feats = torch.rand(1, 4, 6, 6, dtype=torch.float64, requires_grad=True)
g = gram_matrix(feats)
g.sum().backward()
print("torch:", tuple(g.shape), "equal to numpy:", np.allclose(g.detach().numpy(), gram_matrix(feats.detach().numpy())),
      "| gradient:", tuple(feats.grad.shape))
shuffled = feats.detach().reshape(1, 4, 36)[:, :, torch.randperm(36)].reshape(1, 4, 6, 6)
print("Gram matrix after shuffling the 36 positions, largest change:",
      float((gram_matrix(shuffled) - g.detach()).abs().max()))

# %% [markdown]
# ### VGG-19, the network of the paper
#
# Gatys et al. use VGG-19 (Chapter 8) trained on ImageNet: style from conv1_1, conv2_1, conv3_1,
# conv4_1, conv5_1, content from conv4_2, average instead of max pooling. Built on PyTorch's meta
# device (shapes only, no memory), it has these numbers — the layer shapes for a 224×224 input, and
# the sizes of the Gram matrices the style loss compares:

# %%
meta_vgg = vgg19_features("meta")
classifier = nn.Sequential(nn.Linear(512 * 7 * 7, 4096, device="meta"), nn.Linear(4096, 4096, device="meta"),
                           nn.Linear(4096, 1000, device="meta"))
n_features = sum(p.numel() for p in meta_vgg.parameters())
n_classifier = sum(p.numel() for p in classifier.parameters())
print(f"VGG-19: {n_features + n_classifier:,} parameters = {n_features:,} convolutional (what style transfer "
      f"uses) + {n_classifier:,} in the classifier")
layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]
shapes, h = {}, torch.empty(1, 3, 224, 224, device="meta")
for module, name in zip(meta_vgg.body, meta_vgg.names, strict=True):
    h = module(h)
    if name in layers:
        shapes[name] = tuple(h.shape[1:])
for name, (c, hh, ww) in shapes.items():
    role = "content: the features themselves" if name == "relu4_2" else f"style: Gram {c}×{c}"
    print(f"  {name}: {c:3d} maps of {hh:3d}×{ww:<3d} (M = {hh * ww:6,d}) → {role}")

# %% [markdown]
# ## 2. Content loss
#
# With $F^l$ the features of the image x being optimised and $P^l$ those of the content image at the
# content layer, Gatys' eq. 1:
#
# $$\mathcal{L}_{content}(p, x) = \tfrac12 \sum_{i,j} \big(F^l_{ij} - P^l_{ij}\big)^2$$
#
# **Exercise 2.** Return that number (a scalar: a 0-d array or tensor, or a float). Raise a
# `ValueError` when the shapes differ.

# %% nbgrader={"grade": false, "grade_id": "content_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def content_loss(features, target):
    """½ Σ (features − target)² for two arrays of the same shape."""
    ### BEGIN SOLUTION
    if tuple(features.shape) != tuple(target.shape):
        raise ValueError(f"features {tuple(features.shape)} and target {tuple(target.shape)} differ in shape")
    return 0.5 * ((features - target) ** 2).sum()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_content_loss", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "content_loss", "seed": 1402}
check_content_loss(content_loss)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("content_loss", content_loss, seed=1402)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Style loss
#
# For one layer, Gatys' eq. 4 compares the (unnormalised) Gram matrices $G'$ of x and $A'$ of the
# style image:
#
# $$E_l = \frac{1}{4 N_l^2 M_l^2} \sum_{i,j} \big(G'_{ij} - A'_{ij}\big)^2$$
#
# With our normalised $G = G'/M_l$, the $M_l^2$ cancels: $E_l = \frac{1}{4N_l^2}\sum (G - A)^2$ —
# exactly the paper's number. The style loss weighs the layers (eq. 5; Gatys use $w_l = 1/5$ for the
# five layers): $\mathcal{L}_{style} = \sum_l w_l E_l$.
#
# **Exercise 3.** `style_layer_loss(gram, target_gram)`: $E_l$ for two Gram matrices (N, C, C) of one
# layer. Raise a `ValueError` if they are not of one shape (N, C, C).

# %% nbgrader={"grade": false, "grade_id": "style_layer_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def style_layer_loss(gram, target_gram):
    """Σ (G − A)² / (4 C²) for Gram matrices (N, C, C)."""
    ### BEGIN SOLUTION
    if tuple(gram.shape) != tuple(target_gram.shape) or len(gram.shape) != 3 or gram.shape[1] != gram.shape[2]:
        raise ValueError(f"expected Gram matrices of one shape (N, C, C), got {tuple(gram.shape)} and "
                         f"{tuple(target_gram.shape)}")
    c = gram.shape[1]
    return ((gram - target_gram) ** 2).sum() / (4 * c * c)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_style_layer_loss", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "style_layer_loss", "seed": 1403}
check_style_layer_loss(style_layer_loss)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("style_layer_loss", style_layer_loss, seed=1403)
### END HIDDEN TESTS

# %% [markdown]
# Check the cancellation claim numerically, with the unnormalised Gram matrices of the paper:

# %%
rng = np.random.default_rng(0)
f_x, f_a = rng.random((1, 8, 5, 7)), rng.random((1, 8, 5, 7))
n_l, m_l = 8, 5 * 7
g_raw = [f.reshape(8, m_l) @ f.reshape(8, m_l).T for f in (f_x, f_a)]
paper = ((g_raw[0] - g_raw[1]) ** 2).sum() / (4 * n_l ** 2 * m_l ** 2)
print(f"Gatys' E_l = {paper:.10f}, ours = {float(style_layer_loss(gram_matrix(f_x), gram_matrix(f_a))):.10f}")

# %% [markdown]
# **Exercise 4.** `style_loss(features, target_grams, weights)`: three equally long lists — the
# features F_l of x at each style layer, the style image's Gram matrices A_l, the weights w_l —
# and return $\sum_l w_l\, E_l\big(\mathrm{gram\_matrix}(F_l), A_l\big)$. Raise a `ValueError` when
# the lengths differ. Use your functions.

# %% nbgrader={"grade": false, "grade_id": "style_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def style_loss(features, target_grams, weights):
    """Σ_l w_l · style_layer_loss(gram_matrix(F_l), A_l)."""
    ### BEGIN SOLUTION
    if not len(features) == len(target_grams) == len(weights):
        raise ValueError(f"got {len(features)} feature maps, {len(target_grams)} Gram matrices and "
                         f"{len(weights)} weights")
    total = 0.0
    for f, a, w in zip(features, target_grams, weights, strict=True):
        total = total + w * style_layer_loss(gram_matrix(f), a)
    return total
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_style_loss", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "style_loss", "seed": 1404}
check_style_loss(style_loss)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("style_loss", style_loss, seed=1404)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Total variation
#
# Optimising pixels directly produces high-frequency speckle that fools the features. A small
# penalty on neighbouring differences (Mahendran & Vedaldi 2015; Johnson et al. 2016) smooths it:
#
# $$\mathrm{TV}(x) = \sum \big(x_{i+1,j} - x_{i,j}\big)^2 + \sum \big(x_{i,j+1} - x_{i,j}\big)^2$$
#
# over all images and channels.
#
# **Exercise 5.** Implement it for (N, C, H, W) with slicing; raise a `ValueError` for other shapes.

# %% nbgrader={"grade": false, "grade_id": "tv_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def tv_loss(x):
    """Squared differences between vertical and horizontal neighbours, summed."""
    ### BEGIN SOLUTION
    if len(x.shape) != 4:
        raise ValueError(f"x should be 4-d (N, C, H, W), got shape {tuple(x.shape)}")
    return ((x[:, :, 1:, :] - x[:, :, :-1, :]) ** 2).sum() + ((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2).sum()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_tv_loss", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "tv_loss", "seed": 1405}
check_tv_loss(tv_loss)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("tv_loss", tv_loss, seed=1405)
### END HIDDEN TESTS

# %% [markdown]
# ## 5. The objective
#
# Gatys' eq. 7 plus the smoothness term:
#
# $$\mathcal{L}_{total} = \alpha\, \mathcal{L}_{content} + \beta\, \mathcal{L}_{style} + \gamma\, \mathrm{TV}(x)$$
#
# Only the ratio α/β matters much (the paper uses 1e-3 … 1e-4 for VGG-19); the right scale depends on
# the network.
#
# **Exercise 6.** `features` is a dict layer name → features of x; `content_target` the content
# image's features at `content_layer`; `style_grams` a dict layer → the style image's Gram matrix;
# `style_weights` a dict layer → $w_l$ naming the style layers; `image` is x itself (for TV). Raise a
# `ValueError` if `content_layer` or a style layer is missing from `features` (or from `style_grams`).

# %% nbgrader={"grade": false, "grade_id": "transfer_objective", "locked": false, "schema_version": 3, "solution": true, "task": false}
def transfer_objective(features, content_target, style_grams, image, content_layer, style_weights,
                       alpha=1.0, beta=1e3, gamma=0.0):
    """α·content_loss + β·style_loss + γ·tv_loss."""
    ### BEGIN SOLUTION
    needed = [content_layer, *style_weights]
    missing = [k for k in needed if k not in features] + [k for k in style_weights if k not in style_grams]
    if missing:
        raise ValueError(f"layers missing: {missing}")
    names = list(style_weights)
    return (alpha * content_loss(features[content_layer], content_target)
            + beta * style_loss([features[k] for k in names], [style_grams[k] for k in names],
                                [style_weights[k] for k in names])
            + gamma * tv_loss(image))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_transfer_objective", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "transfer_objective", "seed": 1406}
check_transfer_objective(transfer_objective)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("transfer_objective", transfer_objective, seed=1406)
### END HIDDEN TESTS

# %% [markdown]
# ## 6. The feature extractor, offline
#
# VGG-19's ImageNet weights are a 548 MB file, and this course never downloads anything. If you have
# torchvision's `vgg19-dcbb9e9d.pth` on disk (from `https://download.pytorch.org/models/`, fetched once
# on a connected machine), set the environment variable `COURSE_VGG19_WEIGHTS` to its path before
# starting JupyterLab and this chapter uses VGG-19 (slowly: a few minutes at 128 px on a CPU).
#
# Otherwise it uses a **random-filter** CNN of the same shape in small: four blocks of one 3×3
# convolution + ReLU with He-normal random weights and average pooling (64, 128, 256, 256
# channels), never trained. That is not a cheat: Ustyuzhaninov et al. (ICLR 2017) and He, Wang &
# Hopcroft (NeurIPS 2016) showed that random convolutional features already capture texture well
# enough to synthesise and transfer it; what a trained VGG adds is *semantic* features (the deep
# layers know "roof", "tree"), so content is kept more faithfully and style placed more sensibly.
# The style layers here: the normalised pixels (colour statistics) and relu1_1 … relu4_1; content:
# relu4_1 (the notes' "conv4").

# %%
extractor = feature_extractor()
print(f"{extractor.kind} extractor" + ("" if os.environ.get(VGG19_WEIGHTS_ENV) else
                                       f" (no ${VGG19_WEIGHTS_ENV}: VGG-19 weights not given)")
      + f"; layers: {', '.join(extractor.layers)}; {sum(p.numel() for p in extractor.parameters()):,} parameters")
if extractor.kind == "VGG-19":
    content_layer, style_weights, size, steps = "relu4_2", {f"relu{k}_1": 0.2 for k in range(1, 6)}, 128, 150
else:
    content_layer, style_weights, size, steps = "relu4_1", dict.fromkeys(extractor.layers, 1.0), 96, 150
content, style = style_image("china", size), style_image("swirls", size)
show([content, style], ["content: china.jpg (scikit-learn)", "style: swirls (made on the spot)"])

# %% [markdown]
# ## 7. Transfer
#
# Start from the content image and take Adam steps on the pixels (kept in [0, 1]) to minimise *your*
# `transfer_objective`. Gatys et al. — and the lecture notes, whose content loss compares the content
# image with a "噪声图片" — start from white noise instead: set `START = "noise"` to do the same (the
# cell after this one compares the two starts).

# %%
START = "content"  # or "noise": white noise, as Gatys et al. and the lecture notes


def start_image(kind, like, seed=0):
    """The image the optimisation starts from: the content image itself, or uniform noise in [0, 1]."""
    if kind == "content":
        return None  # transfer() starts from the content image
    if kind == "noise":
        return torch.rand(like.shape, generator=torch.Generator().manual_seed(seed))
    raise ValueError(f"START must be 'content' or 'noise', not {kind!r}")


torch.manual_seed(0)
start = time.perf_counter()
result, history = transfer(content, style, extractor, content_layer, style_weights, alpha=1.0, beta=1e5,
                           gamma=1.0, steps=steps, objective=transfer_objective, init=start_image(START, content))
seconds = time.perf_counter() - start
print(f"{steps} Adam steps at {size}×{size} in {seconds:.1f} s ({1000 * seconds / steps:.0f} ms per step); "
      f"style loss {history['style'][0]:.3g} → {history['style'][-1]:.3g}, content loss 0 → "
      f"{history['content'][-1]:.3g}")
show([content, style, result], ["content", "style", "result"], size=3.2)
fig, ax = plt.subplots(figsize=(7, 3))
for key in ("total", "content", "style", "tv"):
    values = np.asarray(history[key])[1:]          # from step 1: the content loss is 0 at the start
    ax.semilogy(np.arange(1, len(values) + 1), values / values.max(), label=f"{key} / its max")
ax.set(xlabel="step", ylabel="loss (relative)", title="What the optimiser trades off")
ax.legend(fontsize=8)
plt.show()

# %%
assert history["style"][-1] < 0.05 * history["style"][0], "the style loss should drop by more than 20×"

# %% [markdown]
# The content loss starts at 0 (x = p) and grows while the style loss falls by orders of magnitude:
# the optimiser trades content fidelity for style, at the rate β/α sets.
#
# ### Content or noise as the start?
#
# The same transfer from the other start (same steps, same weights). From noise the image has to be
# rebuilt from the content layer's features alone; the objective is not convex, so the two starts end
# in different images with different losses. Compare the pictures and the numbers: starting from the
# photo is a convenience (every iterate looks like it), not a guarantee of more content at the end.

# %%
other = "noise" if START == "content" else "content"
result_other, history_other = transfer(content, style, extractor, content_layer, style_weights, alpha=1.0,
                                       beta=1e5, gamma=1.0, steps=steps, objective=transfer_objective,
                                       init=start_image(other, content), progress=False)
show([result, result_other], [f"from {START}", f"from {other}"], size=3.2)
for name, h in ((START, history), (other, history_other)):
    print(f"from {name:<7}: content loss {h['content'][-1]:.3g}, style loss {h['style'][-1]:.3g}, "
          f"total {h['total'][-1]:.3g}")
#
# ### Which layer for content?
#
# Gatys et al. reconstruct an image from one layer's features alone (β = 0, starting from noise):
# low layers reproduce the pixels almost exactly, high layers keep the arrangement and lose the
# details — which is why the content layer is a deep one. The same with our extractor (60 steps, 64 px):

# %%
small = style_image("china", 64)
noise = torch.rand(small.shape, generator=torch.Generator().manual_seed(0))
recon = []
for layer in ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]:
    image, _ = transfer(small, small, extractor, layer, {}, beta=0.0, gamma=0.0, steps=60, lr=0.05, init=noise,
                        objective=transfer_objective, progress=False)
    recon.append(image)
show([small, *recon], ["original", *[f"from {k}" for k in ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]]])

# %% [markdown]
# ## 8. Explore
#
# Change the style image, the style weight β, the TV weight γ, the content layer or the style layers;
# each change re-runs a short transfer (40 steps at 64 px) with your objective. Try: only `pixels` as
# a style layer (colours, no texture); only `relu4_1` (large-scale texture); β = 100 (almost the
# photo) against β = 1e7 (almost only style); γ = 1000 (smooth, washed out).

# %%
StyleTransferExplorer(extractor, objective=transfer_objective)

# %% [markdown]
# > **Where this chapter differs from the lecture notes**
# >
# > * **The starting image.** Gatys et al. and the notes ("噪声图片") start the optimisation from white noise; the chapter starts from the content image by default (at step 0 the result *is* the photo, so even a short run looks like it). Set `START = "noise"` in Section 7 to follow them; the cell after it runs both starts and prints their final losses.
# > * **Layers.** The notes take content from conv4 and style from conv1–conv5: with VGG-19 the chapter uses relu4_2 and relu1_1…relu5_1 (as Gatys et al.); offline, a random-filter CNN with the pixels and relu1_1…relu4_1 for style and relu4_1 for content.
# > * **No download.** Without a local VGG-19 file the extractor is random and untrained; random convolutional features already transfer texture and colour.

# %% [markdown]
# ## Written questions
#
# Answer each question in a few sentences, in your own words, in the cell below it (replace *YOUR ANSWER HERE*). They are graded by the course staff (5 points in all), not by the autograder: `course check` and `course grade` list them as awaiting manual grading.
#
# **Question 1** (2 points). Why does the Gram matrix capture style but not content?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_gram", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** $G = FF^\top/(HW)$ sums over all positions: it records which channels fire *together* (colours, strokes, textures) and is unchanged if the positions are shuffled, so the arrangement — the content — is gone. The content loss compares the feature maps F themselves, position by position.
#
# **Rubric (2 points).** 1 pt: the sum over positions discards where. 1 pt: channel co-occurrence = texture/style; content compares F directly.
# ### END SOLUTION

# %% [markdown]
# **Question 2** (2 points). What changes when the optimisation starts from white noise instead of the content image?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_init", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** From the content image the content loss starts at 0 and every iterate looks like the photo, style being added step by step, so even a short run gives a usable result. From noise the image has to be rebuilt from the content layer's features alone: the early iterates are noise and it needs enough steps. The objective is not convex, so the two starts reach different images and losses (in this chapter the noise start even ends with a slightly lower content loss), and noise starts differ from seed to seed.
#
# **Rubric (2 points).** 1 pt: the content start begins at content loss 0 (usable early), noise must rebuild the image from features. 1 pt: non-convex objective — different results, seed dependence; no claim that one start always keeps more content.
# ### END SOLUTION

# %% [markdown]
# **Question 3** (1 point). What does the total-variation term add?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_tv", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** It penalises differences between neighbouring pixels, suppressing the high-frequency noise and checkerboard patterns that optimising raw pixels for CNN features produces.
#
# **Rubric (1 point).** 1 pt: smoothness prior against high-frequency artifacts.
# ### END SOLUTION

# %% [markdown]
# ## Summary
#
# * Style = which features co-occur, whatever the place: the Gram matrix $G = FF^\top/(HW)$ of each
#   layer. Content = the features themselves at one deep layer.
# * $\mathcal{L} = \alpha\,\tfrac12\sum(F - P)^2 + \beta\sum_l w_l \frac{\sum(G_l - A_l)^2}{4N_l^2} + \gamma\,\mathrm{TV}$,
#   minimised over the pixels; the network stays fixed.
# * VGG-19 (143,667,240 parameters, of which 20,024,384 convolutional) is the paper's extractor;
#   random convolutional filters already transfer texture and colour, offline and in seconds.
# * Optimisation-based transfer takes many forward/backward passes per image; feed-forward transfer
#   networks (Johnson et al. 2016) learn to do it in one pass for a fixed style.
