# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 9 — Visualising what CNNs learn
#
# A trained CNN gives an answer but not a reason. This chapter opens it up in two ways: look at what
# each layer computes (its **feature maps**), and ask which pixels made the network say "7" (a
# **heatmap** over the input). Zeiler & Fergus (2014) did the first for AlexNet, found dead filters and
# aliasing in its first layers, fixed them (smaller first-layer stride and kernels) and won ILSVRC 2013
# with the fixed network. Zhou et al. (2016) showed that a network trained only with class labels
# already knows *where* the object is: their class activation maps localise ImageNet objects with a
# **37.1 %** top-5 localisation error, close to the 34.2 % of a network trained with boxes.
#
# You will write, in PyTorch (allowed here: only the course's reference implementations are switched
# off while your functions are checked), the four classic heatmaps and use them on the Chapter-7
# digits CNN (LeNet-5) and on a small network that ends in global average pooling:
#
# | # | you write | points |
# |---|---|---|
# | 1 | `collect_feature_maps` — the outputs of named layers of any model, with forward hooks | 2 |
# | 2 | `normalize_heatmap` — scale every map to [0, 1] for display | 1 |
# | 3 | `saliency_map` — input gradients (Simonyan et al., 2014) | 3 |
# | 4 | `class_activation_map` — CAM: the classifier applied at every position (Zhou et al., 2016) | 2 |
# | 5 | `activations_and_gradients` — a layer's output and the gradient of the class score w.r.t. it | 3 |
# | 6 | `grad_cam_map` — Grad-CAM (Selvaraju et al., 2017) | 2 |
# | 7 | `occlusion_sensitivity` — slide a patch over the image, watch the probability drop (Zeiler & Fergus, 2014) | 3 |
#
# Models are in evaluation mode, arrays are NCHW, and every function returns **numpy** arrays (call
# `.detach().numpy()`). `target` is an int array (N,) of classes, or `None` for each image's predicted
# class. Every exercise has a `check_*` cell that explains the first thing that is wrong.
#
# **Key terms** ([glossary](../../docs/glossary.md)): feature map 特征图 · forward hook 前向钩子 · heatmap 热力图 · saliency map 显著图 · input gradient 输入梯度 · class activation map (CAM) 类激活图 · global average pooling 全局平均池化 · Grad-CAM 梯度加权类激活图 · occlusion sensitivity 遮挡敏感度 · interpretability 可解释性 · sanity check 合理性检验 · receptive field 感受野

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from course_lib.data import SHAPE_CLASSES, digits_split, load_photo, shapes_classification
from course_lib.models import LeNet5, count_params, digits_to_32
from course_lib.reference.interpret import GapNet
from course_lib.testing import (
    check_activations_and_gradients,
    check_class_activation_map,
    check_collect_feature_maps,
    check_grad_cam_map,
    check_normalize_heatmap,
    check_occlusion_sensitivity,
    check_saliency_map,
)
from course_lib.train import evaluate, fit
from course_lib.viz import FeatureMapExplorer, show_images

np.set_printoptions(precision=4, suppress=True)
torch.set_num_threads(1)  # small models: one thread beats two that wait for each other on a busy machine


def digits_to_16(x):
    """(N, 1, 8, 8) digits → (N, 1, 16, 16), bilinear (the input size of the GAP network)."""
    return F.interpolate(torch.as_tensor(np.asarray(x, dtype=np.float32)), size=(16, 16), mode="bilinear",
                         align_corners=False)


def overlay(ax, image, heat, title=None, alpha=0.55):
    """Draw a grey image with a heatmap in [0, 1] (any size, stretched over the image) on top."""
    H, W = image.shape[-2:]
    ax.imshow(np.asarray(image).reshape(-1, H, W).mean(0), cmap="gray", extent=(0, W, H, 0))
    ax.imshow(heat, cmap="jet", alpha=alpha, extent=(0, W, H, 0), vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)

# %% [markdown]
# ## 1. Two models to look into
#
# **LeNet-5** from Chapters 2–7 (with batch normalization, on the digits upsampled to 32×32) and a
# **GAP network** — three 3×3 convolutions, then *global average pooling* (全局平均池化, Chapter 3)
# and one linear layer — on the digits upsampled to 16×16. The second is the architecture CAM needs:
# NiN and GoogLeNet end like this. Both train in a few seconds; the accuracies are printed below.

# %%
Xtr, ytr, Xte, yte = digits_split()
torch.manual_seed(0)
lenet = LeNet5(batch_norm=True)
start = time.perf_counter()
fit(lenet, (Xtr, ytr), (Xte, yte), epochs=3, batch_size=64, optimizer="adam", lr=3e-3,
    transform=digits_to_32, desc="LeNet-5")
torch.manual_seed(0)
gapnet = GapNet(num_classes=10, width=32)
fit(gapnet, (Xtr, ytr), (Xte, yte), epochs=5, batch_size=32, optimizer="adam", lr=3e-3,
    scheduler=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5),
    transform=digits_to_16, desc="GAP network")
lenet.eval()
gapnet.eval()
acc_lenet = evaluate(lenet, digits_to_32(Xte), yte)[1]
acc_gap = evaluate(gapnet, digits_to_16(Xte), yte)[1]
print(f"trained both in {time.perf_counter() - start:.1f} s")
print(f"LeNet-5      {count_params(lenet):6,} parameters, test accuracy {acc_lenet:.1%}")
print(f"GAP network  {count_params(gapnet):6,} parameters, test accuracy {acc_gap:.1%}")
print(gapnet)

# %% [markdown]
# ## 2. Feature maps, with forward hooks
#
# A **feature map** (特征图) is one output channel of a layer. To read the outputs of layers deep
# inside a model without changing its code, PyTorch offers **forward hooks** (前向钩子):
# `handle = module.register_forward_hook(fn)` makes every call of `module` end with
# `fn(module, inputs, output)`; `handle.remove()` takes the hook away again. Every sub-module has a
# name in `model.named_modules()` — `"features.0"` is `model.features[0]`.
#
# **Exercise 1.** `collect_feature_maps(model, x, names)` runs the model once on `x` (without
# gradients) and returns `{name: output}` for the named layers, as numpy arrays. If a layer runs more
# than once, keep its first output. Remove your hooks afterwards (use `try`/`finally`), or every later
# call of the model would keep recording.

# %% nbgrader={"grade": false, "grade_id": "collect_feature_maps", "locked": false, "schema_version": 3, "solution": true, "task": false}
def collect_feature_maps(model, x, names):
    """Outputs of the named sub-modules of ``model`` for the input ``x``.

    Args:
        model: any nn.Module.
        x: numpy array (N, C, H, W), float32.
        names: list of names from ``model.named_modules()``.

    Returns:
        dict {name: float32 numpy array of that layer's output}.
    """
    ### BEGIN SOLUTION
    modules = dict(model.named_modules())
    outputs = {}

    def make_hook(name):
        def hook(module, inputs, output):
            if name not in outputs:
                outputs[name] = output.detach().numpy().copy()
        return hook

    handles = [modules[name].register_forward_hook(make_hook(name)) for name in names]
    try:
        with torch.inference_mode():
            model(torch.as_tensor(x))
    finally:
        for h in handles:
            h.remove()
    return {name: outputs[name] for name in names}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_collect_feature_maps", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "collect_feature_maps", "seed": 901}
check_collect_feature_maps(collect_feature_maps)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("collect_feature_maps", collect_feature_maps, seed=901)
### END HIDDEN TESTS

# %% [markdown]
# The 6 maps of LeNet's first convolution and the 16 of its second, for one test digit. The first
# layer still looks like the digit — edges and strokes in different directions; after two rounds of
# convolution and pooling each 5×5 map has a **receptive field** (感受野) of 16×16 input pixels
# (Chapter 2) and the picture is gone: what is left is *which* parts are present, coarsely *where*.

# %%
digit = digits_to_32(Xte[:1]).numpy()                         # (1, 1, 32, 32)
maps = collect_feature_maps(lenet, digit, ["features.2", "features.6"])   # after ReLU: conv1, conv2
print({name: m.shape for name, m in maps.items()})
show_images([digit[0, 0], *maps["features.2"][0]], titles=[f"input ({yte[0]})"] + [f"conv1 #{c}" for c in range(6)],
            ncols=7, cmap="viridis")
_ = show_images(maps["features.6"][0], titles=[f"conv2 #{c}" for c in range(16)], ncols=8, cmap="viridis")

# %% [markdown]
# ### The feature-map explorer
#
# `FeatureMapExplorer(model)` does this for **any** model: it finds the convolution, activation and
# pooling layers with `named_modules()`, hooks them, and shows the chosen layer's channels for the
# chosen input. Pick a layer, move the channel slider (the chosen channel is outlined and shown
# enlarged), switch between the digits and the bundled photos, or upload an image of your own (it
# is converted to grey and resized to 32×32). Below the maps: the first-layer filters.
#
# Things to try: which channels of `features.2` respond to vertical strokes? Are there channels that
# are zero for every digit (dead ReLUs, Chapter 4)? What does the photo of a Chinese temple
# (`"photo china"`) do to the prediction — and why is a confident answer on it meaningless?

# %%
explorer = FeatureMapExplorer(lenet)
explorer

# %% [markdown]
# ## 3. Heatmaps need a common scale
#
# Every method below gives a map of "importance" in its own units (gradients, logits, probability
# drops). To show them side by side, scale each map to [0, 1] by its own minimum and maximum.
#
# **Exercise 2.** `normalize_heatmap(m)` maps every (h, w) map of an array (..., h, w) to
# $(m - \min)/(\max - \min)$, min and max taken over that map only. A constant map (max = min)
# becomes all zeros. Keep the input's dtype.

# %% nbgrader={"grade": false, "grade_id": "normalize_heatmap", "locked": false, "schema_version": 3, "solution": true, "task": false}
def normalize_heatmap(m):
    """Scale each map of ``m`` (..., h, w) to [0, 1]; constant maps become zeros."""
    ### BEGIN SOLUTION
    lo = m.min(axis=(-2, -1), keepdims=True)
    span = m.max(axis=(-2, -1), keepdims=True) - lo
    safe = np.where(span > 0, span, 1)
    return np.where(span > 0, (m - lo) / safe, 0).astype(m.dtype)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_normalize_heatmap", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "normalize_heatmap", "seed": 902}
check_normalize_heatmap(normalize_heatmap)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("normalize_heatmap", normalize_heatmap, seed=902)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Saliency: the gradient with respect to the input
#
# Simonyan, Vedaldi & Zisserman (2014): the class score $y_c$ (the logit, before softmax) is, near an
# image $x_0$, approximately linear, $y_c(x) \approx y_c(x_0) + w^\top (x - x_0)$ with
# $w = \partial y_c / \partial x$. The pixels with large $|w|$ are those whose change would change the
# score most. The saliency map (显著图) is $M_{ij} = \max_{\text{channel}} |w_{\text{ch}, i, j}|$ —
# one backward pass. For a batch, backpropagate the **sum** of the N target scores: each image's score
# depends only on its own pixels (evaluation mode), so the gradient of the sum is every image's own
# gradient.
#
# **Exercise 3.** `saliency_map(model, x, target)` → (N, H, W). Make `x` a tensor with
# `requires_grad=True`, run the model, pick the target logits (`logits[range(N), target]` or
# `gather`), backpropagate, take the absolute value and the maximum over the channels. With
# `target=None` use the predicted classes (argmax of the logits).

# %% nbgrader={"grade": false, "grade_id": "saliency_map", "locked": false, "schema_version": 3, "solution": true, "task": false}
def saliency_map(model, x, target=None):
    """max over channels of |d logit[n, target[n]] / d x[n]|.

    Args:
        model: classifier (N, C, H, W) -> logits (N, K), in eval mode.
        x: numpy array (N, C, H, W), float32.
        target: int array (N,) or None (predicted classes).

    Returns:
        float32 numpy array (N, H, W).
    """
    ### BEGIN SOLUTION
    xt = torch.tensor(x, requires_grad=True)
    logits = model(xt)
    if target is None:
        target = logits.argmax(dim=1)
    target = torch.as_tensor(target)
    logits[torch.arange(len(xt)), target].sum().backward()
    return xt.grad.abs().amax(dim=1).numpy()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_saliency_map", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "saliency_map", "seed": 903}
check_saliency_map(saliency_map)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("saliency_map", saliency_map, seed=903)
### END HIDDEN TESTS

# %% [markdown]
# Saliency for eight test digits and their predicted class. The gradient is noisy — it is the
# sensitivity of one logit to each pixel, including pixels that are black and could become ink —
# but it concentrates on the strokes and on the places where ink would turn the digit into another.

# %%
X8 = digits_to_32(Xte[:8]).numpy()
pred8 = lenet(torch.as_tensor(X8)).argmax(1).numpy()
sal8 = normalize_heatmap(saliency_map(lenet, X8))
fig, axes = plt.subplots(2, 8, figsize=(12, 3.2))
for i in range(8):
    axes[0, i].imshow(X8[i, 0], cmap="gray")
    axes[0, i].set_title(f"label {yte[i]}, pred {pred8[i]}", fontsize=8)
    axes[0, i].set_axis_off()
    axes[1, i].imshow(sal8[i], cmap="hot")
    axes[1, i].set_axis_off()
axes[1, 0].set_title("saliency", fontsize=8, loc="left")
fig.tight_layout()

# %% [markdown]
# ## 5. Class activation maps (CAM)
#
# In the GAP network the logits are a linear function of the average of the last feature maps
# $A_k$ (K maps of size h×w): $y_c = b_c + \sum_k w_{ck} \frac{1}{hw}\sum_{ij} A_k[i, j]$. Swap the sums:
#
# $$y_c = b_c + \frac{1}{hw}\sum_{ij} M_c[i, j], \qquad M_c = \sum_k w_{ck} A_k .$$
#
# $M_c$ — the classifier applied at every position before averaging — is the **class activation map**
# (类激活图): how much each position contributes to the score of class c. It has the size of the
# last feature maps (8×8 here, 2× coarser than the 16×16 input) and is upsampled to show it.
#
# **Exercise 4.** `class_activation_map(features, fc_weight, target)` with features (N, K, h, w),
# the FC weight (num_classes, K) and target (N,) returns (N, h, w): for image n, the weights of class
# `target[n]`. Raise `ValueError` if `fc_weight` does not have K columns. (numpy is enough:
# `np.einsum` or broadcasting.)

# %% nbgrader={"grade": false, "grade_id": "class_activation_map", "locked": false, "schema_version": 3, "solution": true, "task": false}
def class_activation_map(features, fc_weight, target):
    """CAM: M[n] = sum_k fc_weight[target[n], k] * features[n, k].

    Args:
        features: (N, K, h, w) feature maps (the input of global average pooling).
        fc_weight: (num_classes, K) weight of the linear layer after the pooling.
        target: int array (N,).

    Returns:
        array (N, h, w), dtype of features.
    """
    ### BEGIN SOLUTION
    if fc_weight.shape[1] != features.shape[1]:
        raise ValueError(f"fc_weight must have {features.shape[1]} columns, got shape {fc_weight.shape}")
    w = fc_weight[target]                                   # (N, K)
    return (w[:, :, None, None] * features).sum(axis=1).astype(features.dtype)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_class_activation_map", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "class_activation_map", "seed": 904}
check_class_activation_map(class_activation_map)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("class_activation_map", class_activation_map, seed=904)
### END HIDDEN TESTS

# %% [markdown]
# The identity above is exact: the mean of the CAM plus the bias **is** the logit. Check it on 100
# test digits, then look at the maps of one digit for *every* class — the evidence for "this is a 4"
# sits somewhere else than the evidence for "this is a 9".

# %%
X16 = digits_to_16(Xte[:100]).numpy()
feats = collect_feature_maps(gapnet, X16, ["features"])["features"]        # (100, 32, 8, 8)
W_fc, b_fc = gapnet.fc.weight.detach().numpy(), gapnet.fc.bias.detach().numpy()
with torch.no_grad():
    logits16 = gapnet(torch.as_tensor(X16)).numpy()
pred16 = logits16.argmax(1)
cams = class_activation_map(feats, W_fc, pred16)                          # (100, 8, 8)
gap_identity = np.abs(cams.mean(axis=(1, 2)) + b_fc[pred16] - logits16[np.arange(100), pred16]).max()
print(f"features {feats.shape}; CAM {cams.shape}; max |mean(CAM) + b - logit| = {gap_identity:.1e}")
assert gap_identity < 1e-4

i = int(np.flatnonzero(yte[:100] == 4)[0])
all_classes = class_activation_map(np.repeat(feats[i:i + 1], 10, 0), W_fc, np.arange(10))   # (10, 8, 8)
lo, hi = all_classes.min(), all_classes.max()                          # one scale for all classes
fig, axes = plt.subplots(1, 11, figsize=(14, 1.8))
axes[0].imshow(X16[i, 0], cmap="gray")
axes[0].set_title(f"input ({yte[i]})", fontsize=8)
axes[0].set_axis_off()
for c in range(10):
    overlay(axes[c + 1], X16[i], (all_classes[c] - lo) / (hi - lo), f"class {c}: {logits16[i, c]:.1f}")
fig.tight_layout()

# %% [markdown]
# ## 6. Grad-CAM: CAM for any CNN
#
# CAM needs GAP followed by one linear layer. Selvaraju et al. (2017) replace the FC weight $w_{ck}$
# by the **average gradient** of the class score with respect to the feature map $A_k$ of any conv
# layer, and keep only the positive evidence:
#
# $$\alpha_k^c = \frac{1}{hw}\sum_{ij}\frac{\partial y_c}{\partial A_k[i, j]}, \qquad
# M^c_{\text{Grad-CAM}} = \mathrm{ReLU}\Big(\sum_k \alpha^c_k A_k\Big).$$
#
# For the GAP network and its last feature maps, $\partial y_c/\partial A_k[i,j] = w_{ck}/(hw)$, so
# Grad-CAM is exactly $\mathrm{ReLU}(\text{CAM})/(hw)$: it *generalises* CAM. Getting
# $\partial y_c/\partial A$ needs a hook again: keep the layer's output tensor from a forward hook, then
# `torch.autograd.grad(score, A)` (or `A.retain_grad()` before `score.backward()`, then `A.grad`).
#
# **Exercise 5.** `activations_and_gradients(model, layer, x, target)` returns `(A, dA)`: the
# output of the module `layer` for `x`, and the gradient of $\sum_n y_{n, \text{target}[n]}$ with
# respect to it — both numpy, of the layer's output shape. `target=None`: the predicted classes.

# %% nbgrader={"grade": false, "grade_id": "activations_and_gradients", "locked": false, "schema_version": 3, "solution": true, "task": false}
def activations_and_gradients(model, layer, x, target=None):
    """A layer's output A and d(sum_n logit[n, target[n]]) / dA.

    Args:
        model: classifier (N, C, H, W) -> logits (N, K), in eval mode.
        layer: a sub-module of model (e.g. model.features[3]).
        x: numpy array (N, C, H, W), float32.
        target: int array (N,) or None (predicted classes).

    Returns:
        (A, dA): float32 numpy arrays of the layer's output shape.
    """
    ### BEGIN SOLUTION
    saved = []
    hook = layer.register_forward_hook(lambda module, inputs, output: saved.append(output))
    try:
        logits = model(torch.as_tensor(x))
    finally:
        hook.remove()
    A = saved[0]
    if target is None:
        target = logits.argmax(dim=1)
    score = logits[torch.arange(len(logits)), torch.as_tensor(target)].sum()
    (dA,) = torch.autograd.grad(score, A)
    return A.detach().numpy(), dA.numpy()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_activations_and_gradients", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "activations_and_gradients", "seed": 905}
check_activations_and_gradients(activations_and_gradients)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("activations_and_gradients", activations_and_gradients, seed=905)
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 6.** `grad_cam_map(activations, gradients)` — both (N, K, h, w) — returns the Grad-CAM
# (N, h, w) of the formula above. Raise `ValueError` if the two shapes differ.

# %% nbgrader={"grade": false, "grade_id": "grad_cam_map", "locked": false, "schema_version": 3, "solution": true, "task": false}
def grad_cam_map(activations, gradients):
    """ReLU(sum_k alpha_k A_k) with alpha_k the spatial mean of the gradients of A_k; (N, h, w)."""
    ### BEGIN SOLUTION
    if activations.shape != gradients.shape:
        raise ValueError(f"activations {activations.shape} and gradients {gradients.shape} differ")
    alpha = gradients.mean(axis=(2, 3))                     # (N, K)
    cam = (alpha[:, :, None, None] * activations).sum(axis=1)
    return np.maximum(cam, 0).astype(activations.dtype)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_grad_cam_map", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "grad_cam_map", "seed": 906}
check_grad_cam_map(grad_cam_map)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("grad_cam_map", grad_cam_map, seed=906)
### END HIDDEN TESTS

# %% [markdown]
# Selvaraju et al.'s claim, checked: on the GAP network's last feature maps, Grad-CAM equals
# ReLU(CAM)/(h·w) to float32 round-off.

# %%
A, dA = activations_and_gradients(gapnet, gapnet.features, X16, pred16)
gcam16 = grad_cam_map(A, dA)
h, w = A.shape[-2:]
diff = np.abs(gcam16 - np.maximum(cams, 0) / (h * w)).max()
print(f"dA / (w_c / hw): {np.allclose(dA, W_fc[pred16][:, :, None, None] / (h * w), atol=1e-7)}; "
      f"max |Grad-CAM - ReLU(CAM)/hw| = {diff:.1e} (maps up to {gcam16.max():.2f})")
assert diff < 1e-5


def grad_cam(model, layer, x, target=None):
    """Grad-CAM of ``layer`` (N, h, w), from your two functions."""
    return grad_cam_map(*activations_and_gradients(model, layer, x, target))

# %% [markdown]
# For LeNet the choice of layer matters: early layers have fine maps that respond to strokes of any
# class; later layers are coarse (5×5 after the last pooling) but class-specific. A common choice is
# the last convolutional block — here the ReLU after the second convolution, 10×10.

# %%
layers = {"conv1 ReLU 28×28": lenet.features[2], "conv2 ReLU 10×10": lenet.features[6],
          "pool2 5×5": lenet.features[7]}
fig, axes = plt.subplots(3, 6, figsize=(10, 5.4))
for row, (name, layer) in enumerate(layers.items()):
    maps = normalize_heatmap(grad_cam(lenet, layer, X8[:6]))
    for i in range(6):
        overlay(axes[row, i], X8[i], maps[i], f"{name}" if i == 0 else f"pred {pred8[i]}")
fig.tight_layout()

# %% [markdown]
# ## 7. Occlusion sensitivity
#
# The most direct question: *if this part of the image were hidden, would the network still say c?*
# Zeiler & Fergus (2014) slid a grey square over the image and plotted the probability of the true
# class for each position. No gradients, any model (even a black box), but one forward pass per
# position.
#
# **Exercise 7.** `occlusion_sensitivity(model, x, target, patch_size, stride, fill)`: for patch
# position (i, j), set `x[:, :, i*stride : i*stride+patch_size, j*stride : j*stride+patch_size] = fill`
# (all channels, on a copy) and return $p(\text{target}\mid x) - p(\text{target}\mid x_{\text{occluded}})$
# (softmax probabilities), shape (N, H_out, W_out) with $H_\text{out} = \lfloor (H - \text{patch})/\text{stride}\rfloor + 1$.
# `target=None`: the classes predicted on the clean images. Batch the occluded copies (e.g. a row of
# positions at a time) — a loop of single forward passes is slow.

# %% nbgrader={"grade": false, "grade_id": "occlusion_sensitivity", "locked": false, "schema_version": 3, "solution": true, "task": false}
def occlusion_sensitivity(model, x, target=None, patch_size=4, stride=2, fill=0.0):
    """p(target | x) - p(target | x with one patch set to fill), for every patch position.

    Args:
        model: classifier (N, C, H, W) -> logits (N, K), in eval mode.
        x: numpy array (N, C, H, W), float32.
        target: int array (N,) or None (classes predicted on x).
        patch_size, stride: ints.
        fill: value written into the patch.

    Returns:
        float32 numpy array (N, H_out, W_out).
    """
    ### BEGIN SOLUTION
    xt = torch.as_tensor(x)
    N, C, H, W = xt.shape
    h_out, w_out = (H - patch_size) // stride + 1, (W - patch_size) // stride + 1
    with torch.inference_mode():
        p = model(xt).softmax(dim=1)
        target = p.argmax(dim=1) if target is None else torch.as_tensor(target)
        p_clean = p[torch.arange(N), target]
        out = np.zeros((N, h_out, w_out), dtype=np.float32)
        for i in range(h_out):
            batch = xt.repeat(w_out, 1, 1, 1)                       # (w_out * N, C, H, W)
            for j in range(w_out):
                batch[j * N:(j + 1) * N, :, i * stride:i * stride + patch_size,
                      j * stride:j * stride + patch_size] = fill
            q = model(batch).softmax(dim=1).reshape(w_out, N, -1)
            out[:, i, :] = (p_clean[None] - q[:, torch.arange(N), target]).T.numpy()
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_occlusion_sensitivity", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "occlusion_sensitivity", "seed": 907}
check_occlusion_sensitivity(occlusion_sensitivity)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("occlusion_sensitivity", occlusion_sensitivity, seed=907)
### END HIDDEN TESTS

# %% [markdown]
# ## 8. Side by side, and which map is right?
#
# Four digits and a photo (Grace Hopper, grey, 32×32 — far outside what a digits network has seen:
# its "prediction" on it is meaningless, but the maps still show which pixels drove it). Saliency,
# Grad-CAM (conv2 ReLU) and occlusion (8×8 patch = 2×2 pixels of the original digit, stride 2) on
# LeNet; CAM on the GAP network (16×16 inputs).

# %%
photo = load_photo("grace_hopper", size=32, gray=True).astype(np.float32)
Xs = np.concatenate([X8[:4], photo[None, None]])                        # (5, 1, 32, 32)
pred_s = lenet(torch.as_tensor(Xs)).argmax(1).numpy()
Xs16 = torch.cat([digits_to_16(Xte[:4]), F.interpolate(torch.as_tensor(Xs[4:]), size=(16, 16), mode="area")])
feats_s = collect_feature_maps(gapnet, Xs16.numpy(), ["features"])["features"]
pred_g = gapnet(Xs16).argmax(1).numpy()
start = time.perf_counter()
methods = {
    "saliency": saliency_map(lenet, Xs, pred_s),
    "Grad-CAM": grad_cam(lenet, lenet.features[6], Xs, pred_s),
    "occlusion": occlusion_sensitivity(lenet, Xs, pred_s, patch_size=8, stride=2),
    "CAM (GAP net)": class_activation_map(feats_s, W_fc, pred_g),
}
print(f"computed all maps in {time.perf_counter() - start:.2f} s")
fig, axes = plt.subplots(5, 5, figsize=(9, 9.4))
for i in range(5):
    axes[i, 0].imshow(Xs[i, 0], cmap="gray")
    axes[i, 0].set_title(f"LeNet: {pred_s[i]}, GAP net: {pred_g[i]}", fontsize=8)
    axes[i, 0].set_axis_off()
    for col, (name, maps) in enumerate(methods.items(), start=1):
        overlay(axes[i, col], Xs[i], normalize_heatmap(maps[i:i + 1])[0], name if i == 0 else None)
fig.tight_layout()

# %% [markdown]
# Pictures are persuasive, so test them. **Deletion test** (in the spirit of Samek et al., 2017):
# blank the 10 % of pixels a map calls most important and see how much the probability of the
# predicted class falls, averaged over 100 test digits. A map that points at what the network uses
# should hurt more than blanking random pixels.

# %%
X100 = digits_to_32(Xte[:100]).numpy()
with torch.no_grad():
    p100 = lenet(torch.as_tensor(X100)).softmax(1)
t100 = p100.argmax(1).numpy()
rng = np.random.default_rng(0)
to32 = lambda m: F.interpolate(torch.as_tensor(m)[:, None], size=(32, 32), mode="bilinear",  # noqa: E731
                               align_corners=False)[:, 0].numpy()
heat = {"random pixels": rng.random((100, 32, 32)),
        "saliency": saliency_map(lenet, X100, t100),
        "Grad-CAM": to32(grad_cam(lenet, lenet.features[6], X100, t100)),
        "occlusion": to32(occlusion_sensitivity(lenet, X100, t100, patch_size=8, stride=4))}
k = int(0.1 * 32 * 32)
drops = {}
for name, m in heat.items():
    top = np.argsort(-m.reshape(100, -1), axis=1)[:, :k]                # the k most important pixels
    blanked = X100.reshape(100, -1).copy()
    np.put_along_axis(blanked, top, 0.0, axis=1)
    with torch.no_grad():
        q = lenet(torch.as_tensor(blanked.reshape(X100.shape))).softmax(1)
    drops[name] = float((p100[np.arange(100), t100] - q[np.arange(100), t100]).mean())
    print(f"{name:>14}: blanking its top 10% of pixels lowers p(predicted class) by {drops[name]:.2f}")

# %% [markdown]
# Every map beats random pixels. Occlusion wins by a wide margin, but partly by construction: it
# *measured* the effect of blanking regions, which is what this test does (with pixels instead of
# patches). Saliency beats Grad-CAM here because it is pixel-sharp, while a 10×10 Grad-CAM upsampled
# to 32×32 can only point at blobs — a reminder that the test measures one thing, not "truth".
#
# **Sanity check** (合理性检验, Adebayo et al., 2018). A heatmap that explains the *network* must change
# when the network's weights are thrown away. Compare the maps of the trained LeNet with those of an
# untrained one (same architecture, random weights) by rank correlation over the pixels: saliency of
# a random network is often still correlated with the image's edges — partly an edge detector, not an
# explanation.

# %%
def rank_corr(a, b):
    """Spearman rank correlation between two maps of the same shape."""
    ra, rb = a.ravel().argsort().argsort(), b.ravel().argsort().argsort()
    return float(np.corrcoef(ra, rb)[0, 1])


torch.manual_seed(1)
random_lenet = LeNet5(batch_norm=True).eval()
X20 = X100[:20]
for name, fn in {"saliency": lambda m: saliency_map(m, X20, t100[:20]),
                 "Grad-CAM": lambda m: grad_cam(m, m.features[6], X20, t100[:20])}.items():
    trained, untrained = fn(lenet), fn(random_lenet)
    corr = np.mean([rank_corr(trained[i], untrained[i]) for i in range(20)])
    print(f"{name:>9}: mean rank correlation trained vs random weights = {corr:+.2f}")

# %% [markdown]
# Grad-CAM of the random network has almost nothing in common with the trained one (a correlation
# near 0): it depends on the weights, as it should. Saliency keeps a clearly positive correlation — a
# part of what it shows is the input's structure seen through *any* stack of convolutions and ReLUs,
# exactly the effect Adebayo et al. warned about.

# %% [markdown]
# ## 9. Do the maps point at the object? Localisation on the synthetic shapes
#
# On 8×8 digits the "object" fills the image, so no map can be wrong about *where* it is. CAM's claim —
# a classifier trained with labels only knows where the object is — needs images where the object is
# small and its box is known. Zhou et al. score it by drawing a box around the thresholded CAM
# (37.1 % top-5 localisation error on ImageNet). A simpler score, the **pointing game** (Zhang et al.,
# 2016): the share of images whose heatmap **peak** falls inside the object's box.
#
# The data: Chapter 10's synthetic shapes, one shape per 48×48 colour image
# (`course_lib.data.shapes_classification`), labelled circle / square / triangle. The GAP network (the
# same architecture as above, 3 input channels, 3 classes) is trained on 600 of them with labels only;
# the boxes are used only to score the maps on 200 test images. A random point lands in the box as
# often as the box covers the image — the baseline to beat.

# %%
X_sh, y_sh, boxes_sh = shapes_classification(800, seed=0)             # (800, 3, 48, 48), (800,), (800, 4)
Xs_tr, ys_tr, Xs_te, ys_te, box_te = X_sh[:600], y_sh[:600], X_sh[600:], y_sh[600:], boxes_sh[600:]
torch.manual_seed(0)
shape_net = GapNet(num_classes=3, in_channels=3, width=32)
start = time.perf_counter()
fit(shape_net, (Xs_tr, ys_tr), epochs=4, batch_size=32, optimizer="adam", lr=3e-3, desc="GAP network, shapes")
shape_net.eval()
print(f"trained in {time.perf_counter() - start:.1f} s; test accuracy "
      f"{evaluate(shape_net, Xs_te, ys_te)[1]:.1%} on {len(Xs_te)} images ({', '.join(SHAPE_CLASSES)})")


def to48(m):
    """(N, h, w) heatmaps → (N, 48, 48), bilinear."""
    return F.interpolate(torch.as_tensor(np.asarray(m, dtype=np.float32))[:, None], size=(48, 48),
                         mode="bilinear", align_corners=False)[:, 0].numpy()


def peaks_in_boxes(maps, boxes):
    """Pointing game: per map (N, H, W), is the centre of its highest pixel inside the box (x1, y1, x2, y2)?"""
    rows, cols = np.unravel_index(maps.reshape(len(maps), -1).argmax(axis=1), maps.shape[1:])
    x, y = cols + 0.5, rows + 0.5
    return (boxes[:, 0] <= x) & (x <= boxes[:, 2]) & (boxes[:, 1] <= y) & (y <= boxes[:, 3])


with torch.no_grad():
    pred_sh = shape_net(torch.as_tensor(Xs_te)).argmax(1).numpy()
feats_sh = collect_feature_maps(shape_net, Xs_te, ["features"])["features"]          # (200, 32, 24, 24)
shape_maps = {
    "CAM": to48(class_activation_map(feats_sh, shape_net.fc.weight.detach().numpy(), pred_sh)),
    "Grad-CAM (last conv)": to48(grad_cam(shape_net, shape_net.features, Xs_te, pred_sh)),
    "Grad-CAM (conv2)": to48(grad_cam(shape_net, shape_net.features[6], Xs_te, pred_sh)),
    "saliency": saliency_map(shape_net, Xs_te, pred_sh),
}
box_area = (box_te[:, 2] - box_te[:, 0]) * (box_te[:, 3] - box_te[:, 1])
hit_share = {name: float(peaks_in_boxes(m, box_te).mean()) for name, m in shape_maps.items()}
hit_share["random point (box area / image)"] = float((box_area / 48**2).mean())
for name, share in hit_share.items():
    print(f"{name:>32}: peak inside the box in {share:.1%} of the test images")

fig, axes = plt.subplots(2, 5, figsize=(11, 4.6))
for i in range(2):
    axes[i, 0].imshow(Xs_te[i].transpose(1, 2, 0))
    axes[i, 0].set_title(f"{SHAPE_CLASSES[ys_te[i]]} → {SHAPE_CLASSES[pred_sh[i]]}", fontsize=8)
    for col, (name, maps) in enumerate(shape_maps.items(), start=1):
        axes[i, col].imshow(Xs_te[i].mean(0), cmap="gray")
        axes[i, col].imshow(normalize_heatmap(maps[i:i + 1])[0], cmap="jet", alpha=0.5)
        r, c = np.unravel_index(maps[i].argmax(), maps[i].shape)
        axes[i, col].plot(c, r, "w+", ms=12, mew=2)
        if i == 0:
            axes[i, col].set_title(f"{name}: {hit_share[name]:.0%}", fontsize=8)
    for ax in axes[i]:
        x1, y1, x2, y2 = box_te[i]
        ax.add_patch(plt.Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, ec="lime", lw=1.5))
        ax.set_axis_off()
fig.suptitle("Heatmap peaks (+) and the object's box (green); titles: share of peaks inside the box")
fig.tight_layout()

# %% [markdown]
# Trained with labels only, the GAP network's CAM puts its peak on the object in most test images, far
# above the random baseline. Grad-CAM on the last convolution has the same peak as CAM — on a GAP network
# it *is* ReLU(CAM)/hw — so its share is the same; on the earlier conv2 layer it is computed from other
# feature maps and scores differently. Saliency is pixel-sharp but noisier: its single brightest
# gradient can fall on the background. (The pointing game rewards only the peak; CAM's paper scores a
# box drawn around the map instead, which also asks whether the map covers the whole object.)

# %% [markdown]
# ## Summary
#
# * Forward hooks read any layer of any model; the feature maps go from strokes (conv1) to coarse
#   "which part is where" maps (conv2), and the explorer shows them for any `nn.Module`.
# * **Saliency** $|\partial y_c/\partial x|$: one backward pass, pixel-sharp, noisy.
# * **CAM** $\sum_k w_{ck}A_k$: exact for GAP + linear networks — its mean plus the bias *is* the logit.
# * **Grad-CAM** replaces $w_{ck}$ by the averaged gradient: any layer of any CNN; on a GAP network it
#   is ReLU(CAM)/hw, as you verified.
# * **Occlusion**: model-agnostic and easy to interpret, one forward pass per patch position.
# * On the 48×48 shapes, where the box is known, the heatmap peaks land inside the object's box far more
#   often than a random point (the pointing game): a GAP classifier trained with labels only localises.
# * Heatmaps are hypotheses: test them (deletion) and check that they depend on the weights
#   (randomisation) before trusting them.

# %% [markdown]
# > **Where this chapter differs from the lecture notes**
# >
# > * **Outside the notes.** The notes only say that deep models are hard to interpret ("可解释性差") and that ViT's self-attention makes models interpretable; saliency maps, CAM, Grad-CAM and occlusion are the course's additions.
# > * **What a map shows.** These maps say where the *model* looks for its score, not why it is right; the chapter treats them as evidence to check, not as explanations.

# %% [markdown]
# ## Written questions
#
# Answer each question in a few sentences, in your own words, in the cell below it (replace *YOUR ANSWER HERE*). They are graded by the course staff (6 points in all), not by the autograder: `course check` and `course grade` list them as awaiting manual grading.
#
# **Question 1** (2 points). Compare a saliency map (the input gradient) with Grad-CAM: resolution, and whether each distinguishes between classes.

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_saliency_gradcam", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** Saliency has the input's full resolution but is noisy and often nearly the same for every class (it reflects local sensitivity, edges, saturation). Grad-CAM weights the last convolutional layer's maps by their spatially averaged gradients and keeps the positive part: class-discriminative, but coarse — the feature map's resolution (e.g. 7×7) upsampled.
#
# **Rubric (2 points).** 1 pt: saliency is pixel-sharp but noisy / weakly class-specific. 1 pt: Grad-CAM is class-discriminative but low-resolution.
# ### END SOLUTION

# %% [markdown]
# **Question 2** (2 points). Why does CAM need a network that ends in global average pooling followed by one linear layer, and how does Grad-CAM lift that restriction?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_cam_architecture", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** Then the class score is $\sum_k w_{ck}\,\text{mean}(A_k) = \text{mean}_{xy}\sum_k w_{ck} A_k(x, y)$, so the map $\sum_k w_{ck} A_k$ decomposes the score exactly over positions. With any other head the weights $w_{ck}$ are not defined. Grad-CAM uses $\alpha_k = \text{mean}_{xy}\,\partial y_c/\partial A_k$ instead, which for a GAP + linear head is $w_{ck}$ divided by the number of positions — CAM up to scale — and exists for any differentiable head.
#
# **Rubric (2 points).** 1 pt: the exact decomposition through GAP + linear. 1 pt: gradient-averaged weights generalise it (equal to CAM up to scale there).
# ### END SOLUTION

# %% [markdown]
# **Question 3** (2 points). Occlusion sensitivity needs no gradients at all. What does it cost, and what can mislead it?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_occlusion", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** One forward pass per patch position (about $(H/s)(W/s)$ passes for stride s), so it is far slower than one backward pass. The grey or black patch makes inputs unlike the training data, so a drop may come from the artificial patch rather than from hiding evidence; a patch smaller than the evidence (or a redundant object) shows no drop, a larger one blurs the map.
#
# **Rubric (2 points).** 1 pt: cost in forward passes. 1 pt: out-of-distribution fill or patch-size effects.
# ### END SOLUTION
