# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 8 — CNN architectures
#
# Between 2012 and 2015 the ImageNet (ILSVRC) top-5 error fell from 26.2 % (2012's best entry without a
# CNN) to 3.57 %, and almost every step came with a new *architecture*: AlexNet (2012, 8 layers,
# 16.4 %), VGG (2014, 19 layers, 7.3 %), GoogLeNet / Inception v1 (2014, 22 layers, 6.67 %) and ResNet
# (2015, 152 layers, 3.57 % — below the ≈ 5.1 % of a trained human). These are the competition
# *entries*, each an ensemble of several networks; section 8 puts the single-network figures next to
# the single-network costs. The ideas behind them are few and reusable: ReLU, dropout and overlapping
# max pooling (AlexNet); stacks of small 3×3 kernels (VGG); 1×1 convolutions and global average pooling
# instead of huge fully-connected layers (Network in Network); parallel branches at several scales
# (Inception); and shortcut connections that let a block learn a *residual* (残差) (ResNet, Highway).
#
# In this chapter you build these networks in PyTorch from blocks you write, reproduce their published
# parameter counts exactly (AlexNet 61,100,840; VGG-16 138,357,544; ResNet-18 11,689,512; ResNet-50
# 25,557,032 — torchvision's layouts), measure their cost, and watch the first symptom of the
# *degradation problem* that ResNet solved — a deeper plain network that trains more slowly — on a small
# dataset.
#
# | # | you write | points |
# |---|---|---|
# | 1 | `alexnet` — AlexNet in torchvision's layout (ReLU, overlapping max pooling, dropout, optional LRN) | 2 |
# | 2 | `vgg_stage` — a VGG stage: n × (3×3 conv → ReLU) → 2×2 max pool | 1 |
# | 3 | `vgg_param_count` — the parameters of a VGG, from the formula alone | 2 |
# | 4 | `nin_block` — Network in Network's mlpconv block (1×1 convolutions) | 1 |
# | 5 | `inception_v1_module` — GoogLeNet's four-branch module | 3 |
# | 6 | `basic_block` — ResNet's two-layer residual block | 2 |
# | 7 | `bottleneck_block` — ResNet's 1×1 → 3×3 → 1×1 block | 2 |
# | 8 | `resnet` — ResNet-18/34/50/… from your blocks | 2 |
# | 9 | `preact_block` — the pre-activation block of ResNet v2 (identity mappings) | 2 |
# | 10 | `highway_layer` — a gated Highway layer | 1 |
#
# **How the checks work.** Your functions return `nn.Module`s, and torch is allowed. A check builds the
# reference module, compares your parameters and buffers *in the order your module registers them*
# (so create layers in the order the docstring gives), copies the same random weights into both, runs
# both on the same input in evaluation mode and compares every layer's input and output. A failure
# names the first layer that differs. The course's reference modules are switched off while your
# function runs.
#
# The big networks are built on `torch.device("meta")`: parameters get shapes but no memory, and
# shapes flow through the layers, so VGG-16's 138 M parameters cost nothing here.
#
# **Key terms** ([glossary](../../docs/glossary.md)): ILSVRC / ImageNet 大规模视觉识别挑战赛 · top-5 error rate top-5 错误率 · overlapping pooling 重叠池化 · 1×1 convolution 1×1 卷积 · global average pooling 全局平均池化 · Inception module Inception 模块 · auxiliary classifier 辅助分类器 · factorization into small convolutions 小卷积分解 · residual learning 残差学习 · shortcut connection 跳跃连接 · degradation problem 退化问题 · bottleneck block 瓶颈结构 · identity mapping 恒等映射 · Highway network 高速公路网络 · gating unit 门控单元

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.data import digits_split
from course_lib.models import LeNet5, count_params
from course_lib.profiling import profile, stage_shapes
from course_lib.reference.architectures import DigitsNet, GoogLeNet, googlenet_loss
from course_lib.reference.conv import conv_params
from course_lib.testing import (
    check_alexnet,
    check_basic_block,
    check_bottleneck_block,
    check_highway_layer,
    check_inception_v1_module,
    check_nin_block,
    check_preact_block,
    check_resnet,
    check_vgg_param_count,
    check_vgg_stage,
)
from course_lib.train import fit, plot_histories

torch.set_num_threads(1)  # small models: one thread beats two that wait for each other on a busy machine
META = torch.device("meta")   # `with META: model = ...` builds a model without allocating its weights

# %% [markdown]
# ## 1. From LeNet-5 to AlexNet
#
# LeNet-5 (LeCun et al., 1998) already had the modern recipe — convolution → pooling → convolution →
# pooling → fully-connected layers — on 32×32 digits, with 61,706 parameters (Chapter 7 trained it).
# AlexNet (Krizhevsky, Sutskever & Hinton, 2012) is "a deeper and wider LeNet" for 224×224 colour
# images, plus the tricks that made it train:
#
# * **ReLU** instead of sigmoid/tanh (no saturation for x > 0: several times faster training);
# * **dropout** (p = 0.5) in the first two fully-connected layers, against overfitting;
# * **overlapping max pooling**: 3×3 windows with stride 2 (windows overlap by one pixel);
# * **local response normalisation** (LRN) after the first two ReLUs — later found to help little
#   (VGG: "LRN does not improve performance");
# * two GTX 580 GPUs (3 GB each) and data augmentation (random 224 crops of 256×256 images and flips).
#
# The original split most layers into two groups, one per GPU. torchvision's single-GPU variant (from
# Krizhevsky's 2014 "one weird trick" paper) uses 64-192-384-256-256 filters and an adaptive 6×6
# average pool before the classifier, and has **61,100,840** parameters with 1000 classes.
#
# **Exercise 1.** Build it (torchvision's layout, so that torchvision's weights would load):
#
# * `features`: Conv 11×11 (3 → 64, stride 4, padding 2) → ReLU → [LRN] → MaxPool 3/2 → Conv 5×5 (64 → 192,
#   padding 2) → ReLU → [LRN] → MaxPool 3/2 → Conv 3×3 (192 → 384, padding 1) → ReLU → Conv 3×3 (384 → 256,
#   padding 1) → ReLU → Conv 3×3 (256 → 256, padding 1) → ReLU → MaxPool 3/2;
# * `avgpool`: `nn.AdaptiveAvgPool2d((6, 6))`;
# * `classifier`: Dropout → Linear 9216 → 4096 → ReLU → Dropout → Linear 4096 → 4096 → ReLU →
#   Linear 4096 → `num_classes`.
#
# With `lrn=True`, insert `nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)` right after each of
# the first two ReLUs: the paper's n = 5, α = 10⁻⁴, β = 0.75, k = 2, with α × 5 because PyTorch divides
# `alpha` by `size` (Chapter 5). The forward pass flattens the 256×6×6 maps between `avgpool` and
# `classifier`.

# %% nbgrader={"grade": false, "grade_id": "alexnet", "locked": false, "schema_version": 3, "solution": true, "task": false}
class AlexNet(nn.Module):
    """AlexNet (torchvision's layout): (N, 3, H, W) → (N, num_classes) logits, H, W ≥ 63."""

    def __init__(self, num_classes=1000, dropout=0.5, lrn=False):
        super().__init__()
        ### BEGIN SOLUTION
        norm = [nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)] if lrn else []  # paper's α = 1e-4
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), *norm, nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), *norm, nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, num_classes))
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
        ### END SOLUTION


def alexnet(num_classes=1000, dropout=0.5, lrn=False):
    """Return an AlexNet."""
    return AlexNet(num_classes, dropout, lrn)


# %% nbgrader={"grade": true, "grade_id": "test_alexnet", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "alexnet", "seed": 801}
check_alexnet(alexnet)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("alexnet", alexnet, seed=801)
### END HIDDEN TESTS

# %% [markdown]
# Where do the parameters and the computation go? `profile` (from `course_lib.reference.architectures`) runs one
# 224×224 image through the model with a forward hook on every conv and linear layer and counts the
# parameters and multiply-accumulates (MACs) — with Chapter 2's `conv_flops` for the convolutions. On
# the meta device nothing is computed. (LeNet-5 is in the table too, on its 32×32 digits.) A MAC is one
# multiply and one add, so the FLOPs are about twice the MACs; `conv_flops` kept its name from
# Chapter 2 but counts MACs.

# %%
with META:
    alex = alexnet()
alex_profile = profile(alex)
print(alex_profile.table())
print(f"\nLeNet-5: {count_params(LeNet5()):,} parameters.  AlexNet: {alex_profile.total_params:,} "
      f"({alex_profile.total_params / count_params(LeNet5()):.0f}× more)")
assert alex_profile.total_params == 61_100_840

# %%
conv_rows = [r for r in alex_profile.layers if r.kind == "Conv2d"]
fc_rows = [r for r in alex_profile.layers if r.kind == "Linear"]
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
names = [f"conv{i + 1}" for i in range(len(conv_rows))] + [f"fc{i + 6}" for i in range(len(fc_rows))]
for ax, key, label in zip(axes, ("params", "macs"), ("parameters (millions)", "MACs (millions)"), strict=True):
    values = [getattr(r, key) / 1e6 for r in conv_rows + fc_rows]
    ax.bar(names, values, color=["tab:blue"] * len(conv_rows) + ["tab:orange"] * len(fc_rows))
    ax.set_ylabel(label)
conv_p = sum(r.params for r in conv_rows) / alex_profile.total_params
conv_m = sum(r.macs for r in conv_rows) / alex_profile.total_macs
axes[0].set_title(f"convolutions hold {conv_p:.1%} of the parameters")
axes[1].set_title(f"… but do {conv_m:.1%} of the computation")
plt.tight_layout()
plt.show()

# %% [markdown]
# The lecture notes' observation in numbers: each convolutional layer holds about 1 % (or less) of the
# parameters, but they do almost all of the computation; the three fully-connected layers hold 96 %.
#
# The notes' "60 million parameters" is the *original* two-GPU AlexNet: 96-256-384-384-256 filters, and
# conv2, conv4 and conv5 split into two groups (each half sees only the 48 / 192 channels on its own
# GPU). The parameter formula $(K_H K_W C_{in}/\text{groups} + 1)\,C_{out}$ gives it exactly:

# %%
original = {  # name: (C_in, C_out, kernel, groups)
    "conv1": (3, 96, 11, 1), "conv2": (96, 256, 5, 2), "conv3": (256, 384, 3, 1), "conv4": (384, 384, 3, 2),
    "conv5": (384, 256, 3, 2), "fc6": (256 * 6 * 6, 4096, 1, 1), "fc7": (4096, 4096, 1, 1), "fc8": (4096, 1000, 1, 1)}
counts = {name: conv_params(c_in // g, c_out, k) for name, (c_in, c_out, k, g) in original.items()}
print({k: f"{v:,}" for k, v in counts.items()})
print(f"original AlexNet: {sum(counts.values()):,} parameters (the notes: 6000万 = 60 million)")

# %% [markdown]
# ## 2. VGG: depth from stacks of 3×3 convolutions
#
# VGG (Simonyan & Zisserman, 2014; 2nd in ILSVRC 2014 classification, 7.3 % top-5 with an ensemble of
# seven nets, 7.1 % for VGG-19 alone on the validation set) uses one kind of
# convolution only — 3×3, stride 1, padding 1 — in five stages separated by 2×2 max pooling, with
# 64 → 128 → 256 → 512 → 512 filters. Why 3×3? Two stacked 3×3 layers see a 5×5 window, three see
# 7×7 (receptive field, Chapter 2), but with C channels in and out three 3×3 layers have
# $3 \cdot 3^2 C^2 = 27C^2$ weights against $7^2 C^2 = 49C^2$ for one 7×7 layer — 45 % fewer — and three
# ReLUs instead of one.

# %%
C = 256
three_3x3 = 3 * conv_params(C, C, 3, bias=False)
one_7x7 = conv_params(C, C, 7, bias=False)
print(f"C = {C}: three 3×3 layers {three_3x3:,} weights = 27C² = {27 * C * C:,};  one 7×7 layer {one_7x7:,} "
      f"= 49C² = {49 * C * C:,};  ratio {three_3x3 / one_7x7:.3f} = 27/49")

# %% [markdown]
# **Exercise 2.** `vgg_stage(in_channels, out_channels, num_convs)`: an `nn.Sequential` of `num_convs` ×
# (Conv2d 3×3 with padding 1 → ReLU) — the first conv maps `in_channels` → `out_channels`, the others
# `out_channels` → `out_channels` — followed by `nn.MaxPool2d(2, 2)`. It halves H and W.

# %% nbgrader={"grade": false, "grade_id": "vgg_stage", "locked": false, "schema_version": 3, "solution": true, "task": false}
def vgg_stage(in_channels, out_channels, num_convs):
    """(N, in_channels, H, W) → (N, out_channels, H // 2, W // 2)."""
    ### BEGIN SOLUTION
    layers = []
    for i in range(num_convs):
        layers += [nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers, nn.MaxPool2d(2, 2))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_vgg_stage", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "vgg_stage", "seed": 802}
check_vgg_stage(vgg_stage)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("vgg_stage", vgg_stage, seed=802)
### END HIDDEN TESTS

# %% [markdown]
# A whole VGG is five of your stages, torchvision's adaptive 7×7 average pool, and three
# fully-connected layers (4096, 4096, classes) with ReLU and dropout. The configurations of the paper
# are lists of (filters, convs per stage): A = VGG-11, B = VGG-13, D = VGG-16, E = VGG-19.

# %%
VGG_STAGES = {
    "VGG-11": ((64, 1), (128, 1), (256, 2), (512, 2), (512, 2)),
    "VGG-13": ((64, 2), (128, 2), (256, 2), (512, 2), (512, 2)),
    "VGG-16": ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)),
    "VGG-19": ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4)),
}


def make_vgg(stages, num_classes=1000):
    blocks, c = [], 3
    for out_channels, num_convs in stages:
        blocks.append(vgg_stage(c, out_channels, num_convs))
        c = out_channels
    return nn.Sequential(nn.Sequential(*blocks), nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(),
                         nn.Sequential(nn.Linear(c * 7 * 7, 4096), nn.ReLU(), nn.Dropout(),
                                       nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, num_classes)))


with META:
    vgg16 = make_vgg(VGG_STAGES["VGG-16"])
shapes = stage_shapes(vgg16, stages=[f"0.{i}" for i in range(5)] + ["3"])
for name, shape in shapes.items():
    print(f"{'stage ' + str(int(name[-1]) + 1) if name != '3' else 'classifier':>10}: {shape}")
print(f"VGG-16: {count_params(vgg16):,} parameters")
assert count_params(vgg16) == 138_357_544

# %% [markdown]
# **Exercise 3.** `vgg_param_count(stages, num_classes=1000, in_channels=3)`: the number of parameters
# of that VGG (layout above) *without building it* — from the formulas alone: a conv has
# $(3 \cdot 3 \cdot C_{in} + 1)\,C_{out}$ parameters, a linear layer $(D_{in} + 1)\,D_{out}$; pooling,
# ReLU and dropout have none; the first FC layer sees $C_{last} \cdot 7 \cdot 7$ inputs whatever the image
# size. Return an `int`.

# %% nbgrader={"grade": false, "grade_id": "vgg_param_count", "locked": false, "schema_version": 3, "solution": true, "task": false}
def vgg_param_count(stages, num_classes=1000, in_channels=3):
    """Parameters of a VGG with ``stages`` = [(out_channels, num_convs), ...]."""
    ### BEGIN SOLUTION
    total, c = 0, in_channels
    for filters, convs in stages:
        for _ in range(convs):
            total += (9 * c + 1) * filters
            c = filters
    for d_in, d_out in ((c * 49, 4096), (4096, 4096), (4096, num_classes)):
        total += (d_in + 1) * d_out
    return total
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_vgg_param_count", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "vgg_param_count", "seed": 803}
check_vgg_param_count(vgg_param_count)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("vgg_param_count", vgg_param_count, seed=803)
### END HIDDEN TESTS

# %% [markdown]
# The notes: "from A to E the networks get deeper but hardly bigger, because most parameters are in the
# last three fully-connected layers". Your formula, split into convolutions and FC layers:

# %%
fig, ax = plt.subplots(figsize=(7, 3))
for i, (name, stages) in enumerate(VGG_STAGES.items()):
    total = vgg_param_count(stages)
    fc = (512 * 49 + 1) * 4096 + 4097 * 4096 + 4097 * 1000
    ax.bar(i, (total - fc) / 1e6, color="tab:blue", label="convolutions" if i == 0 else None)
    ax.bar(i, fc / 1e6, bottom=(total - fc) / 1e6, color="tab:orange", label="FC layers" if i == 0 else None)
    ax.text(i, total / 1e6 + 2, f"{total / 1e6:.1f} M\nFC {fc / total:.0%}", ha="center", fontsize=8)
    print(f"{name}: {total:,} parameters, of which FC {fc:,} ({fc / total:.1%})")
ax.set_xticks(range(4), list(VGG_STAGES))
ax.set_ylabel("parameters (millions)")
ax.set_ylim(0, 175)
ax.legend(loc="lower right")
plt.show()

# %% [markdown]
# VGG-16's 13 convolutions hold only 14.7 M of its 138.4 M parameters (the first FC layer alone,
# 25,088 × 4,096, has 102.8 M) — yet they do 99 % of the computation (section 8).
#
# ## 3. Network in Network: 1×1 convolutions and global average pooling
#
# Network in Network (Lin, Chen & Yan, 2013) replaced each convolution by an "mlpconv": a convolution
# followed by a small MLP applied at every pixel — which is exactly a stack of **1×1 convolutions**. A
# 1×1 convolution mixes the channels of one position (a fully-connected layer across channels, shared
# over positions); it adds a non-linearity cheaply and can reduce or raise the number of channels.
# NiN also removed the FC classifier: the last mlpconv has one channel per class and **global average
# pooling** turns each map into one score — no parameters, and less overfitting.
#
# **Exercise 4.** `nin_block(in_channels, out_channels, kernel_size, stride=1, padding=0)`: Conv
# (`kernel_size`, `stride`, `padding`) → ReLU → Conv 1×1 → ReLU → Conv 1×1 → ReLU, all with
# `out_channels` filters, as an `nn.Sequential`.

# %% nbgrader={"grade": false, "grade_id": "nin_block", "locked": false, "schema_version": 3, "solution": true, "task": false}
def nin_block(in_channels, out_channels, kernel_size, stride=1, padding=0):
    """An mlpconv block: (N, in_channels, H, W) → (N, out_channels, H_out, W_out)."""
    ### BEGIN SOLUTION
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding), nn.ReLU(),
                         nn.Conv2d(out_channels, out_channels, 1), nn.ReLU(),
                         nn.Conv2d(out_channels, out_channels, 1), nn.ReLU())
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_nin_block", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "nin_block", "seed": 804}
check_nin_block(nin_block)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("nin_block", nin_block, seed=804)
### END HIDDEN TESTS

# %% [markdown]
# A 1×1 convolution is a linear layer applied to every pixel's channel vector: the same numbers.

# %%
torch.manual_seed(0)
x = torch.randn(2, 16, 5, 5)
conv1x1 = nn.Conv2d(16, 4, 1)
as_linear = F.linear(x.permute(0, 2, 3, 1), conv1x1.weight.view(4, 16), conv1x1.bias).permute(0, 3, 1, 2)
print("1×1 conv == per-pixel linear layer:", torch.allclose(conv1x1(x), as_linear, atol=1e-6))

# A NiN for 224×224 images (as in d2l): four of your blocks, global average pooling over 1000 maps.
with META:
    nin_net = nn.Sequential(nin_block(3, 96, 11, 4, 0), nn.MaxPool2d(3, 2), nin_block(96, 256, 5, 1, 2),
                            nn.MaxPool2d(3, 2), nin_block(256, 384, 3, 1, 1), nn.MaxPool2d(3, 2), nn.Dropout(),
                            nin_block(384, 1000, 3, 1, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
print(f"NiN: {count_params(nin_net):,} parameters, output {stage_shapes(nin_net, stages=['9'])['9']}; "
      f"its classifier (global average pooling) has 0 — AlexNet's has {sum(r.params for r in fc_rows):,}")

# %% [markdown]
# ## 4. GoogLeNet and the Inception module
#
# GoogLeNet / Inception v1 (Szegedy et al., 2014) won ILSVRC 2014 with 6.67 % top-5 error (an ensemble
# of seven models; one model: 7.89 % on the validation set), 22 layers,
# about 1.5 billion multiply-adds and "12 times fewer parameters than AlexNet". Its unit is the
# **Inception module**: four branches look at the same input at different scales — 1×1, 3×3, 5×5
# convolutions and 3×3 max pooling — and their outputs are concatenated along the channels. To keep
# this affordable, 1×1 convolutions first *reduce* the channels before the 3×3 and 5×5 convolutions, and
# *project* the pooled branch:
#
# ```
#            ┌─ 1×1 ─────────────┐
#  input ────┼─ 1×1 → 3×3 ───────┼── concatenate (channels)
#            ├─ 1×1 → 5×5 ───────┤
#            └─ 3×3 max pool → 1×1┘
# ```
#
# **Exercise 5.** `inception_v1_module(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)`
# (torchvision's argument names) returns a module with, **created in this order**:
# branch 1: Conv 1×1 (`ch1x1`) → ReLU; branch 2: Conv 1×1 (`ch3x3red`) → ReLU → Conv 3×3 (`ch3x3`,
# padding 1) → ReLU; branch 3: Conv 1×1 (`ch5x5red`) → ReLU → Conv 5×5 (`ch5x5`, padding 2) → ReLU;
# branch 4: MaxPool 3×3 (stride 1, padding 1) → Conv 1×1 (`pool_proj`) → ReLU. The forward pass
# concatenates the four outputs in this order along dim 1; H and W are kept.

# %% nbgrader={"grade": false, "grade_id": "inception_v1_module", "locked": false, "schema_version": 3, "solution": true, "task": false}
class InceptionV1(nn.Module):
    """(N, in_channels, H, W) → (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        ### BEGIN SOLUTION
        self.branch1 = nn.Sequential(nn.Conv2d(in_channels, ch1x1, 1), nn.ReLU())
        self.branch2 = nn.Sequential(nn.Conv2d(in_channels, ch3x3red, 1), nn.ReLU(),
                                     nn.Conv2d(ch3x3red, ch3x3, 3, padding=1), nn.ReLU())
        self.branch3 = nn.Sequential(nn.Conv2d(in_channels, ch5x5red, 1), nn.ReLU(),
                                     nn.Conv2d(ch5x5red, ch5x5, 5, padding=2), nn.ReLU())
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(in_channels, pool_proj, 1),
                                     nn.ReLU())
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)
        ### END SOLUTION


def inception_v1_module(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
    """Return an Inception v1 module."""
    return InceptionV1(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)


# %% nbgrader={"grade": true, "grade_id": "test_inception_v1_module", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false} course={"exercise": "inception_v1_module", "seed": 805}
check_inception_v1_module(inception_v1_module)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("inception_v1_module", inception_v1_module, seed=805)
### END HIDDEN TESTS

# %% [markdown]
# Module 3a of the paper (192 channels in, 28×28): 64 + 128 + 32 + 32 = 256 channels out. The paper's
# Table 1 lists 159K parameters for it — the weights alone, in units of 1024. Without the 1×1
# reductions (the "naive" module: 3×3 and 5×5 directly on 192 channels, and the 192 pooled channels
# passed through) it would need more than twice the computation, and its output would grow to 416
# channels:

# %%
m3a = inception_v1_module(192, 64, 96, 128, 16, 32, 32)
weights = sum(p.numel() for n, p in m3a.named_parameters() if n.endswith("weight"))
print(f"3a: {count_params(m3a):,} parameters; weights only {weights:,} = {weights / 1024:.1f}K (Table 1: 159K)")
naive = nn.ModuleList([nn.Conv2d(192, 64, 1), nn.Conv2d(192, 128, 3, padding=1), nn.Conv2d(192, 32, 5, padding=2)])
macs = {name: profile(nn.Sequential(m), (192, 28, 28)).total_macs for name, m in (("reduced", m3a),)}
macs["naive"] = sum(profile(nn.Sequential(c), (192, 28, 28)).total_macs for c in naive)
print(f"multiply-accumulates at 28×28: with 1×1 reductions {macs['reduced'] / 1e6:.0f} M, naive "
      f"{macs['naive'] / 1e6:.0f} M ({macs['naive'] / macs['reduced']:.1f}×)")

# %% [markdown]
# GoogLeNet stacks nine such modules (`GoogLeNet` follows Table 1 of the paper) after a conventional stem, and ends with
# global average pooling and a single FC layer. Built from *your* module:

# %%
with META:
    goog = GoogLeNet(1000, aux_logits=False, inception=inception_v1_module)
goog_profile = profile(goog)
print(f"GoogLeNet: {goog_profile.total_params:,} parameters, {goog_profile.total_macs / 1e9:.2f} G multiply-adds")
print("output of each module:", {k: stage_shapes(goog, stages=[f"inception.{k}"])[f"inception.{k}"][1:]
                                 for k in ("3a", "3b", "4a", "4e", "5b")})

# %% [markdown]
# 1.59 G multiply-adds reproduces the paper's "1.5 billion multiply-adds" (the notes' "15亿次浮点运算",
# 1.5 billion floating-point operations, is the same count of multiply-adds — about 3 G FLOPs). The
# notes' 500万 (5 M) parameters is the paper's "12× fewer than AlexNet" (60 M / 12); counting every
# weight and bias of Table 1 gives 7.0 M, of which 1.0 M is the final FC layer — still 9× fewer than
# AlexNet, for a network almost three times as deep.
#
# **Auxiliary classifiers.** To give the middle of this 22-layer network a stronger gradient, GoogLeNet
# attaches two small classifiers (average pool 5×5/3 → 1×1 conv 128 → FC 1024 → dropout 0.7 → FC) to
# the outputs of modules 4a and 4d. During training their losses are added with weight **0.3**; at
# test time they are discarded:
#
# $$L = L_{main} + 0.3\,(L_{aux,1} + L_{aux,2})$$

# %%
torch.manual_seed(0)
goog_aux = GoogLeNet(10, aux_logits=True, inception=inception_v1_module)
images, labels = torch.randn(1, 3, 224, 224), torch.tensor([3])   # the aux heads expect 14×14 maps at 4a
goog_aux.train()
main, aux1, aux2 = goog_aux(images)
loss = googlenet_loss((main, aux1, aux2), labels, aux_weight=0.3)
print(f"training: 3 outputs {tuple(main.shape)}, {tuple(aux1.shape)}, {tuple(aux2.shape)}; loss {loss:.4f} = "
      f"{F.cross_entropy(main, labels):.4f} + 0.3·({F.cross_entropy(aux1, labels):.4f} + "
      f"{F.cross_entropy(aux2, labels):.4f})")
goog_aux.eval()
aux_params = count_params(goog_aux.aux1) + count_params(goog_aux.aux2)
print(f"evaluation: one output {tuple(goog_aux(images).shape)}; the auxiliary heads' {aux_params:,} parameters "
      "are only used in training")
del goog_aux

# %% [markdown]
# **Inception v2 and v3: factorising convolutions.** Inception v2 (with batch normalisation; an ensemble
# of six: 4.82 % top-5 on the ImageNet *test* set — the notes' 4.8 % — and 4.9 % on the validation set)
# replaced each 5×5 convolution by two 3×3 ones, as VGG does: $2 \cdot 9 = 18$ instead of 25 weights per
# channel pair (28 % fewer) for the same 5×5 window. Inception v3 (3.5 %, an ensemble of four, validation)
# went further and split an n×n convolution into a 1×n followed by an n×1 one: $2n$ instead of $n^2$
# weights — 33 % fewer for 3×3, 71 % fewer for 7×7 — with one more non-linearity. (Inception v4 /
# Inception-ResNet, 3.08 % with an ensemble of four on the test set, added residual connections,
# section 5.)

# %%
C = 64
rows = {"5×5": [conv_params(C, C, 5, bias=False)], "two 3×3": [2 * conv_params(C, C, 3, bias=False)],
        "3×3": [conv_params(C, C, 3, bias=False)], "1×3 + 3×1": [2 * conv_params(C, C, (1, 3), bias=False)],
        "7×7": [conv_params(C, C, 7, bias=False)], "1×7 + 7×1": [2 * conv_params(C, C, (1, 7), bias=False)]}
for a, b in (("5×5", "two 3×3"), ("3×3", "1×3 + 3×1"), ("7×7", "1×7 + 7×1")):
    print(f"C = {C}: {a:>4} {rows[a][0]:>8,} weights → {b:<10} {rows[b][0]:>8,}  ({1 - rows[b][0] / rows[a][0]:.0%} fewer)")
pair7 = nn.Sequential(nn.Conv2d(C, C, (1, 7), padding=(0, 3)), nn.Conv2d(C, C, (7, 1), padding=(3, 0)))
print("1×7 then 7×1 keeps the size:", tuple(pair7(torch.zeros(1, C, 17, 17)).shape))

# %% [markdown]
# ## 5. ResNet: residual learning
#
# ### The degradation problem
#
# Deeper should never be worse: a deep network could copy a shallower one and set its extra layers to
# the identity. Yet He et al. (2015) found that beyond some depth, *plain* networks get a **higher
# training error** — not overfitting (the training error itself rises) and not vanishing gradients
# (they used batch normalisation). The solvers just do not find the identity-like solution.
#
# Their fix: let each block learn the *difference* to its input. If the desired mapping is $H(x)$, the
# block computes $F(x) = H(x) - x$ and outputs $F(x) + x$ through a **shortcut connection**. Pushing
# $F$ to zero is easy, so extra blocks cost nothing; and the gradient flows back through the "+ x"
# undiminished.
#
# The experiment below trains three networks on the 8×8 digits with exactly the same training loop:
# a shallow plain network (one unit of two 3×3 convs: 4 layers), a deep plain one (10 units: 22
# layers) and the same 22 layers with a shortcut around each unit (same parameters). All use batch norm.

# %%
X_train, y_train, X_test, y_test = digits_split()
runs = {"plain, 4 layers": (1, False), "plain, 22 layers": (10, False), "residual, 22 layers": (10, True)}
histories = {}
start = time.perf_counter()
for name, (depth, residual) in runs.items():
    torch.manual_seed(0)
    net = DigitsNet(depth, residual, width=8)
    histories[name] = fit(net, (X_train, y_train), (X_test, y_test), epochs=4, lr=1e-2, batch_size=64,
                          desc=name)
print(f"{time.perf_counter() - start:.1f} s;  parameters: "
      + ", ".join(f"{n} {count_params(DigitsNet(d, r, width=8)):,}" for n, (d, r) in runs.items()))
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
plot_histories(histories, "train_loss", ax=axes[0], logy=True)
plot_histories(histories, "val_acc", ax=axes[1])
axes[0].set_title("training loss")
axes[1].set_title("test accuracy")
plt.tight_layout()
plt.show()

# %% [markdown]
# In these four epochs the 22-layer plain network trains *more slowly* than the 4-layer one — its
# training loss stays higher — although it could represent everything the shallow one can. With
# shortcuts, the same 22 layers train fastest of all. A short run shows only this early symptom: the
# degradation problem (退化问题) proper is that the deeper plain network's training error stays higher
# when both are trained to convergence, which He et al. show for 20 vs 56 layers on CIFAR-10 and 18 vs
# 34 layers on ImageNet (their Figures 1 and 4) — hours of training, not seconds.
#
# ### The basic block
#
# **Exercise 6.** `basic_block(in_channels, out_channels, stride=1)` — ResNet-18/34's block in
# torchvision's layout. Create, in this order: `conv1` 3×3 (stride `stride`, padding 1, `bias=False`),
# `bn1` (BatchNorm2d), `conv2` 3×3 (padding 1, `bias=False`), `bn2`, and — only when the shape changes
# (`stride != 1` or `in_channels != out_channels`) — a projection shortcut `downsample` =
# `nn.Sequential(Conv 1×1 with stride, bias=False; BatchNorm2d)`; otherwise the shortcut is the identity.
#
# Forward: `out = relu(bn1(conv1(x)))`, `out = bn2(conv2(out))`, then `relu(out + shortcut(x))`.

# %% nbgrader={"grade": false, "grade_id": "basic_block", "locked": false, "schema_version": 3, "solution": true, "task": false}
class BasicBlock(nn.Module):
    """(N, in_channels, H, W) → (N, out_channels, ⌈H / stride⌉, ⌈W / stride⌉)."""

    expansion = 1   # output channels = expansion × out_channels

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        ### BEGIN SOLUTION
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out_channels))
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)
        ### END SOLUTION


def basic_block(in_channels, out_channels, stride=1):
    """Return a BasicBlock."""
    return BasicBlock(in_channels, out_channels, stride)


# %% nbgrader={"grade": true, "grade_id": "test_basic_block", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "basic_block", "seed": 806}
check_basic_block(basic_block)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("basic_block", basic_block, seed=806)
### END HIDDEN TESTS

# %% [markdown]
# ### The bottleneck block
#
# For ResNet-50/101/152 a block of two 3×3 convolutions at 256 channels would be expensive. The
# **bottleneck** block first reduces the channels with a 1×1 convolution (256 → 64), does the 3×3
# convolution on the narrow tensor, and expands again with a 1×1 convolution (64 → 256) — the
# Inception / NiN trick:

# %%
two_3x3 = 2 * conv_params(256, 256, 3, bias=False)
bottleneck = conv_params(256, 64, 1, bias=False) + conv_params(64, 64, 3, bias=False) + conv_params(64, 256, 1, bias=False)
print(f"two 3×3 convs at 256 channels: {two_3x3:,} weights;  1×1 (256→64) + 3×3 (64) + 1×1 (64→256): "
      f"{bottleneck:,}  ({two_3x3 / bottleneck:.1f}× fewer)")

# %% [markdown]
# **Exercise 7.** `bottleneck_block(in_channels, mid_channels, stride=1)` with `4 * mid_channels` output
# channels (torchvision's "ResNet v1.5": the stride sits on the 3×3 conv). Create, in this order:
# `conv1` 1×1 (→ `mid_channels`), `bn1`, `conv2` 3×3 (stride, padding 1), `bn2`, `conv3` 1×1
# (→ `4 * mid_channels`), `bn3`, all convs with `bias=False`, and the projection `downsample` (1×1 conv
# with stride + BN) when `stride != 1` or `in_channels != 4 * mid_channels`.
# Forward: relu(bn1(conv1)) → relu(bn2(conv2)) → bn3(conv3), plus the shortcut, then ReLU.

# %% nbgrader={"grade": false, "grade_id": "bottleneck_block", "locked": false, "schema_version": 3, "solution": true, "task": false}
class Bottleneck(nn.Module):
    """(N, in_channels, H, W) → (N, 4 · mid_channels, ⌈H / stride⌉, ⌈W / stride⌉)."""

    expansion = 4

    def __init__(self, in_channels, mid_channels, stride=1):
        super().__init__()
        ### BEGIN SOLUTION
        out_channels = mid_channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out_channels))
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)
        ### END SOLUTION


def bottleneck_block(in_channels, mid_channels, stride=1):
    """Return a Bottleneck block."""
    return Bottleneck(in_channels, mid_channels, stride)


# %% nbgrader={"grade": true, "grade_id": "test_bottleneck_block", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "bottleneck_block", "seed": 807}
check_bottleneck_block(bottleneck_block)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("bottleneck_block", bottleneck_block, seed=807)
### END HIDDEN TESTS

# %% [markdown]
# ### The whole ResNet
#
# **Exercise 8.** `resnet(block, layers, num_classes=1000)` with `block` = `"basic"` (your `basic_block`)
# or `"bottleneck"` (your `bottleneck_block`) and `layers` = four block counts. torchvision's layout,
# created in this order: `conv1` 7×7 (3 → 64, stride 2, padding 3, `bias=False`), `bn1`, `maxpool`
# 3×3 (stride 2, padding 1), then `layer1` … `layer4`: each an `nn.Sequential` of `layers[i]` blocks of
# width 64, 128, 256, 512; the first block of `layer2`–`layer4` has stride 2. A block's input channels
# are the previous block's output channels (width × 1 for basic, × 4 for bottleneck blocks, starting
# from 64). Then global average pooling and `fc` (Linear → `num_classes`).
# Forward: conv1 → bn1 → ReLU → maxpool → layer1..4 → average pool → flatten → fc.

# %% nbgrader={"grade": false, "grade_id": "resnet", "locked": false, "schema_version": 3, "solution": true, "task": false}
class ResNet(nn.Module):
    """(N, 3, H, W) → (N, num_classes) logits."""

    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        ### BEGIN SOLUTION
        make, expansion = {"basic": (basic_block, 1), "bottleneck": (bottleneck_block, 4)}[block]
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        c = 64
        for i, n in enumerate(layers):
            width, blocks = 64 * 2 ** i, []
            for j in range(n):
                blocks.append(make(c, width, 2 if i > 0 and j == 0 else 1))
                c = width * expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(c, num_classes)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
        ### END SOLUTION


def resnet(block, layers, num_classes=1000):
    """Return a ResNet made of "basic" or "bottleneck" blocks."""
    return ResNet(block, layers, num_classes)


# %% nbgrader={"grade": true, "grade_id": "test_resnet", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "resnet", "seed": 808}
check_resnet(resnet)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("resnet", resnet, seed=808)
### END HIDDEN TESTS

# %% [markdown]
# The family of the paper's Table 1, built on the meta device from your blocks, with the shape after
# every stage for a 224×224 image:

# %%
RESNETS = {"ResNet-18": ("basic", [2, 2, 2, 2]), "ResNet-34": ("basic", [3, 4, 6, 3]),
           "ResNet-50": ("bottleneck", [3, 4, 6, 3]), "ResNet-101": ("bottleneck", [3, 4, 23, 3]),
           "ResNet-152": ("bottleneck", [3, 8, 36, 3])}
resnet_models = {}
for name, (block, layers) in RESNETS.items():
    with META:
        resnet_models[name] = resnet(block, layers)
    shapes = stage_shapes(resnet_models[name], stages=["maxpool", "layer1", "layer2", "layer3", "layer4", "fc"])
    print(f"{name:>10}: {count_params(resnet_models[name]):>11,} parameters | "
          + " → ".join("×".join(map(str, s[1:])) for s in shapes.values()))
assert count_params(resnet_models["ResNet-18"]) == 11_689_512
assert count_params(resnet_models["ResNet-50"]) == 25_557_032

# %% [markdown]
# Both VGG and ResNet follow one rule of thumb: each time the maps are halved, the channels double, so
# every stage does a similar amount of work. The stage outputs of VGG-16 and ResNet-50 (meta device):

# %%
stage_lists = {"VGG-16": stage_shapes(vgg16, stages=[f"0.{i}" for i in range(5)]),
               "ResNet-50": stage_shapes(resnet_models["ResNet-50"],
                                         stages=["maxpool", "layer1", "layer2", "layer3", "layer4"])}
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
for name, shapes in stage_lists.items():
    channels = [s[1] for s in shapes.values()]
    sides = [s[2] for s in shapes.values()]
    axes[0].plot(range(1, 6), channels, "o-", label=name)
    axes[1].plot(range(1, 6), sides, "o-", label=name)
axes[0].set(xlabel="stage", ylabel="channels", yscale="log", title="channels per stage")
axes[1].set(xlabel="stage", ylabel="height = width", yscale="log", title="spatial size per stage (224×224 input)")
for ax in axes:
    ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ResNet-152 (4.49 % top-5 on its own on the validation set; 3.57 % in ILSVRC 2015 as part of an ensemble)
# has 60 M parameters — as many as AlexNet — for 19× the depth;
# most of VGG's parameters were in its FC layers, ResNet has a single FC layer after global average
# pooling.
#
# ## 6. Pre-activation ResNet: identity mappings
#
# In "Identity Mappings in Deep Residual Networks" (He et al., 2016, "ResNet v2") the ReLU after the
# addition is removed and BN and ReLU move *before* each convolution ("pre-activation"). Then the
# shortcut path is a pure identity all the way through: for blocks $l < L$,
# $x_L = x_l + \sum_{i=l}^{L-1} F(x_i)$, and the gradient
# $\frac{\partial \mathcal{L}}{\partial x_l} = \frac{\partial \mathcal{L}}{\partial x_L}\left(1 + \frac{\partial}{\partial x_l}\sum F\right)$
# always contains the direct term — the signal reaches every block unchanged. A 1001-layer ResNet v2
# trained better than the original.
#
# **Exercise 9.** `preact_block(in_channels, out_channels, stride=1)`. Create, in this order: `bn1`
# (on `in_channels`), `conv1` 3×3 (stride, padding 1, `bias=False`), `bn2`, `conv2` 3×3 (padding 1,
# `bias=False`), and when the shape changes a `shortcut` = a single 1×1 conv with stride, `bias=False`
# (no BN). Forward: `pre = relu(bn1(x))`; the shortcut is `x` itself, or `shortcut(pre)` when there is a
# projection; `out = conv2(relu(bn2(conv1(pre))))`; return `out + shortcut` — no ReLU after the addition.

# %% nbgrader={"grade": false, "grade_id": "preact_block", "locked": false, "schema_version": 3, "solution": true, "task": false}
class PreActBlock(nn.Module):
    """(N, in_channels, H, W) → (N, out_channels, ⌈H / stride⌉, ⌈W / stride⌉)."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        ### BEGIN SOLUTION
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        pre = F.relu(self.bn1(x))
        identity = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        return out + identity
        ### END SOLUTION


def preact_block(in_channels, out_channels, stride=1):
    """Return a PreActBlock."""
    return PreActBlock(in_channels, out_channels, stride)


# %% nbgrader={"grade": true, "grade_id": "test_preact_block", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false} course={"exercise": "preact_block", "seed": 809}
check_preact_block(preact_block)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("preact_block", preact_block, seed=809)
### END HIDDEN TESTS

# %% [markdown]
# ## 7. Highway networks
#
# Highway networks (Srivastava, Greff & Schmidhuber, 2015) came a few months before ResNet with the same
# idea, borrowed from the LSTM's gates: a **gating unit** learns, per feature, how much of the input to
# carry through unchanged:
#
# $$y = H(x)\cdot T(x) + x \cdot \big(1 - T(x)\big), \qquad T(x) = \sigma(W_T x + b_T)$$
#
# $T$ is the *transform gate* and $C = 1 - T$ the *carry gate*. With a negative gate bias ($b_T = -1$
# to $-3$ in the paper) the layer starts close to the identity, so even networks of 100 layers train
# with plain SGD. ResNet is the special case "always carry, always transform": $y = H(x) + x$, without
# gates — in the notes' words (after Schmidhuber), a ResNet is like an LSTM without gates.
#
# **Exercise 10.** `highway_layer(features, gate_bias=-2.0)` on (N, D) inputs: create `transform` =
# `nn.Linear(D, D)` (then H = ReLU of it) and `gate` = `nn.Linear(D, D)`, in this order, fill the gate's
# bias with `gate_bias`, and compute $y$ as above.

# %% nbgrader={"grade": false, "grade_id": "highway_layer", "locked": false, "schema_version": 3, "solution": true, "task": false}
class HighwayLayer(nn.Module):
    """(N, features) → (N, features)."""

    def __init__(self, features, gate_bias=-2.0):
        super().__init__()
        ### BEGIN SOLUTION
        self.transform = nn.Linear(features, features)
        self.gate = nn.Linear(features, features)
        nn.init.constant_(self.gate.bias, gate_bias)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        t = torch.sigmoid(self.gate(x))
        return F.relu(self.transform(x)) * t + x * (1 - t)
        ### END SOLUTION


def highway_layer(features, gate_bias=-2.0):
    """Return a HighwayLayer."""
    return HighwayLayer(features, gate_bias)


# %% nbgrader={"grade": true, "grade_id": "test_highway_layer", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} course={"exercise": "highway_layer", "seed": 810}
check_highway_layer(highway_layer)
### BEGIN HIDDEN TESTS
from course_lib.testing import hidden_check

hidden_check("highway_layer", highway_layer, seed=810)
### END HIDDEN TESTS

# %% [markdown]
# What a negative gate bias does at initialisation: the transform gate is about σ(−2) ≈ 0.12, so each
# layer carries about 88 % of its input through unchanged — a Highway layer starts near the identity,
# a plain layer does not.

# %%
torch.manual_seed(0)
x = torch.randn(256, 32)
layer = highway_layer(32)
with torch.no_grad():
    gate = torch.sigmoid(layer.gate(x))
    y_highway, y_plain = layer(x), F.relu(layer.transform(x))
for name, y in (("Highway layer, gate bias −2", y_highway), ("plain Linear + ReLU", y_plain)):
    corr = np.corrcoef(x.flatten().numpy(), y.flatten().numpy())[0, 1]
    print(f"{name:>28}: correlation of output and input {corr:.2f}")
print(f"mean transform gate T(x) = {float(gate.mean()):.3f} (σ(−2) = {float(torch.sigmoid(torch.tensor(-2.0))):.3f})")

# %% [markdown]
# ## 8. Parameters versus computation
#
# The whole zoo on one chart: parameters against multiply-accumulates (MACs; FLOPs ≈ 2 × MACs, one
# multiply and one add each) for one 224×224 image (LeNet-5: 32×32 digits), measured by `profile` with
# forward hooks on the meta device. Next to these single-network costs, the ImageNet top-5 error of a
# *single* network from each paper, and the competition entry the lecture notes quote — an ensemble
# every time:
#
# | network | single network | ensemble (competition entry) |
# |---|---|---|
# | AlexNet | 18.2 % (1 CNN, val) | 16.4 % (5 CNNs, test) |
# | VGG-19 | 7.1 % (multi-crop & dense, val) | 7.3 % (7 nets, test; 6.8 % with 2 nets after the contest) |
# | GoogLeNet | 7.89 % (1 model, 144 crops, val) | 6.67 % (7 models × 144 crops, test) |
# | ResNet-152 | 4.49 % (val) | 3.57 % (6 models of different depths, test) |

# %%
with META:
    zoo = {"LeNet-5": (LeNet5(), (1, 32, 32)), "AlexNet": (alexnet(), (3, 224, 224)),
           **{name: (make_vgg(stages), (3, 224, 224)) for name, stages in VGG_STAGES.items() if name != "VGG-13"},
           "NiN": (nin_net, (3, 224, 224)), "GoogLeNet": (goog, (3, 224, 224)),
           **{name: (model, (3, 224, 224)) for name, model in resnet_models.items()}}
top5 = {"AlexNet": ("18.2 %", "16.4 %"), "VGG-19": ("7.1 %", "7.3 %"), "GoogLeNet": ("7.89 %", "6.67 %"),
        "ResNet-152": ("4.49 %", "3.57 %")}     # (single network, ensemble): the table above
costs = {name: profile(model, size) for name, (model, size) in zoo.items()}
print(f"{'network':<12}{'parameters':>14}{'G MACs':>10}{'MACs/param':>12}{'top-5: single':>15}{'ensemble':>10}")
for name, p in costs.items():
    single, ensemble = top5.get(name, ("", ""))
    print(f"{name:<12}{p.total_params:>14,}{p.total_macs / 1e9:>10.3f}{p.total_macs / p.total_params:>12.0f}"
          f"{single:>15}{ensemble:>10}")
print("Parameters and MACs are for one network: an ensemble of k networks costs k times as much.")

fig, ax = plt.subplots(figsize=(8, 4.5))
for name, p in costs.items():
    if name == "LeNet-5":
        continue
    family = name.split("-")[0]
    colour = {"AlexNet": "tab:red", "VGG": "tab:orange", "NiN": "tab:purple", "GoogLeNet": "tab:green",
              "ResNet": "tab:blue"}[family]
    ax.scatter(p.total_macs / 1e9, p.total_params / 1e6, s=60, color=colour)
    ax.annotate(name, (p.total_macs / 1e9, p.total_params / 1e6), textcoords="offset points", xytext=(5, 4),
                fontsize=8)
ax.set(xlabel="G multiply-accumulates per 224×224 image", ylabel="parameters (millions)", xscale="log",
       title="CNN architectures: size versus computation")
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# Two different kinds of cost. Parameters (memory, download size, overfitting risk) are dominated by
# fully-connected layers: AlexNet and VGG are large because of them, GoogLeNet and ResNet small because
# global average pooling replaced them. Computation is dominated by convolutions on large feature maps:
# VGG-16 needs 15.5 G MACs — 22× AlexNet — and ResNet-50 does better than VGG with a quarter of its
# computation, thanks to bottlenecks. (Our counts include one add per bias. torchvision's model table
# lists 0.71, 15.47, 1.81 and 4.09 "GFLOPS" for AlexNet, VGG-16, ResNet-18 and ResNet-50: these too are
# multiply-adds, counted like ours; in floating-point operations proper they are about twice that.)
#
# ## Summary
#
# * **AlexNet**: a deeper, wider LeNet with ReLU, dropout, overlapping max pooling and LRN;
#   61.1 M parameters (torchvision) / 61.0 M (original, grouped), 96 % of them in three FC layers.
# * **VGG**: only 3×3 convolutions — three of them see 7×7 with 27C² instead of 49C² weights and three
#   ReLUs; 138.4 M parameters, 89 % in the FC layers, 15.5 G MACs.
# * **NiN**: 1×1 convolutions mix channels per pixel; global average pooling replaces the FC classifier.
# * **Inception v1**: parallel 1×1 / 3×3 / 5×5 / pool branches with 1×1 reductions, 7.0 M parameters
#   and 1.6 G MACs; auxiliary classifiers (weight 0.3) during training. v2/v3 factorise 5×5 into two 3×3
#   and n×n into 1×n + n×1.
# * **ResNet**: shortcut connections turn the degradation problem around; basic (3×3, 3×3) and
#   bottleneck (1×1, 3×3, 1×1) blocks; ResNet-18 11.7 M, ResNet-50 25.6 M parameters. Pre-activation
#   blocks keep the shortcut path a pure identity; Highway layers gate it.
#
# Chinese terms used in the lecture notes are in the course glossary:
# `from course_lib.glossary import show_glossary; show_glossary("ch08")`.
#
# Check your whole notebook from a terminal with
# `course check chapters/ch08_architectures/ch08_architectures.ipynb`.

# %% [markdown]
# > **Where this chapter differs from the lecture notes**
# >
# > * **ResNet's top-5.** The notes give both 3.57 % and 3.46 %; the chapter uses 3.57 %, the ILSVRC 2015 test error of He et al.'s six-model ensemble (a single ResNet-152: 4.49 % on validation).
# > * **LeNet-5's year.** The notes date it 1997 in one place and 1998 in another; the chapter uses 1998 (LeCun, Bottou, Bengio & Haffner, *Proc. IEEE*).
# > * **Ensembles vs single networks.** All four ILSVRC figures the notes quote are ensembles (AlexNet 16.4 %, VGG 7.3 %, GoogLeNet 6.67 % — the notes' 6.7 % — ResNet 3.57 %); the cost table puts single-network errors next to single-network costs (errata 5a6c651).
# > * **MACs.** The notes' "15亿次浮点运算" for GoogLeNet are multiply-adds (MACs); FLOPs ≈ 2 × MACs. AlexNet's LRN uses torch's `alpha=5e-4` (the paper's 1e-4).

# %% [markdown]
# ## Written questions
#
# Answer each question in a few sentences, in your own words, in the cell below it (replace *YOUR ANSWER HERE*). They are graded by the course staff (4 points in all), not by the autograder: `course check` and `course grade` list them as awaiting manual grading.
#
# **Question 1** (2 points). A 56-layer plain network trains to a *higher* training error than a 20-layer one. Why is that not over-fitting, and how do residual connections fix it?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_residual", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** Over-fitting would show a lower training error and a higher test error; here the training error itself is worse, so it is an optimisation problem (degradation): the deeper net could copy the shallow one and set its extra layers to the identity, but stacks of non-linear layers find the identity hard to learn. A residual block computes $x + F(x)$: the identity is the default ($F = 0$, weights near 0), and the gradient has a direct path, $\partial(x + F)/\partial x = I + \partial F/\partial x$.
#
# **Rubric (2 points).** 1 pt: training error is higher → optimisation, not over-fitting. 1 pt: identity as the default / direct gradient path.
# ### END SOLUTION

# %% [markdown]
# **Question 2** (2 points). Count the weights of a 3×3 convolution from 256 to 256 channels, and of ResNet's bottleneck 1×1 (256→64) → 3×3 (64→64) → 1×1 (64→256). What does a 1×1 convolution do?

# %% [markdown] nbgrader={"grade": true, "grade_id": "written_bottleneck", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ### BEGIN SOLUTION
# **Model answer.** $3\cdot3\cdot256\cdot256 = 589{,}824$ against $256\cdot64 + 9\cdot64\cdot64 + 64\cdot256 = 69{,}632$ — about 8.5× fewer (and the same ratio of MACs). A 1×1 convolution is a fully-connected layer across channels applied at every position: it mixes channels and changes their number cheaply, adding a non-linearity after it (NiN's mlpconv, GoogLeNet's reductions).
#
# **Rubric (2 points).** 1 pt: both counts (≈ 8.5×). 1 pt: 1×1 = per-position linear map across channels, changes the channel count.
# ### END SOLUTION
