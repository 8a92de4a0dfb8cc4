"""Chapter 8: the reference architectures (published parameter counts, blocks against functional
torch formulas), the parameter/MAC counter, and the module checks' messages."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from course_lib import profiling
from course_lib.reference import architectures as arch
from course_lib.reference.conv import conv_flops
from course_lib.testing import EXERCISES, CheckFailure, ForbiddenError, check, run_exercise

META = torch.device("meta")


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("build", "expected"), [
    (lambda: arch.alexnet(), 61_100_840),
    (lambda: arch.vgg("vgg16"), 138_357_544),
    (lambda: arch.vgg("vgg19"), 143_667_240),
    (lambda: arch.resnet("basic", [2, 2, 2, 2]), 11_689_512),
    (lambda: arch.resnet("basic", [3, 4, 6, 3]), 21_797_672),
    (lambda: arch.resnet("bottleneck", [3, 4, 6, 3]), 25_557_032),
    (lambda: arch.resnet("bottleneck", [3, 8, 36, 3]), 60_192_808),
])
def test_published_parameter_counts(build, expected):
    with META:
        model = build()
    assert _params(model) == expected == profiling.profile(model).total_params


def test_vgg_param_count_matches_the_model():
    for stages in arch.VGG_STAGES.values():
        with META:
            model = arch.vgg(stages)
        assert arch.vgg_param_count(stages) == _params(model)
    with pytest.raises(ValueError, match="stages"):
        arch.vgg_param_count([(64, 0)])


def test_profile_counts_macs_like_conv_flops_on_cpu_and_meta():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1, bias=False),
                          nn.Conv2d(4, 6, 3, groups=2), nn.Flatten(), nn.Linear(6 * 6 * 6, 5))
    expected = (conv_flops(3, 8, 3, 16, 2, 1) + conv_flops(8, 4, 1, 8, bias=False) + conv_flops(2, 6, 3, 8)
                + 5 * (216 + 1))
    assert profiling.profile(model, (3, 16, 16)).total_macs == expected
    model.to(META)   # the same counts without computing anything
    assert profiling.profile(model, (3, 16, 16)).total_macs == expected
    assert "total" in profiling.profile(model, (3, 16, 16)).table(top=2)


def test_published_macs():
    with META:
        alex, r50 = arch.alexnet(), arch.resnet("bottleneck", [3, 4, 6, 3])
    assert round(profiling.profile(alex).total_macs / 1e9, 2) == 0.71      # torchvision: 0.71 GFLOPS
    assert round(profiling.profile(r50).total_macs / 1e9, 2) == 4.09       # torchvision: 4.09 GFLOPS


def test_stage_shapes_and_bad_names():
    with META:
        model = arch.resnet("basic", [1, 1, 1, 1])
    shapes = profiling.stage_shapes(model, stages=["layer1", "layer4", "fc"])
    assert shapes == {"layer1": (1, 64, 56, 56), "layer4": (1, 512, 7, 7), "fc": (1, 1000)}
    with pytest.raises(ValueError, match="no sub-module"):
        profiling.stage_shapes(model, stages=["layer5"])


# --------------------------------------------------------------------------- blocks vs functional torch

def _bn(x, bn):
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


def _randomise(module, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict(keep_vars=True).items():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5 if "running_var" in name
                        else torch.randn(t.shape, generator=gen) * 0.5)
    return module.eval()


@settings(deadline=None, max_examples=20)
@given(c_in=st.integers(1, 6), c_out=st.integers(1, 6), stride=st.integers(1, 2), size=st.integers(3, 9),
       seed=st.integers(0, 1000))
def test_basic_and_preact_blocks_match_functional_formulas(c_in, c_out, stride, size, seed):
    x = torch.randn(2, c_in, size, size, generator=torch.Generator().manual_seed(seed))
    b = _randomise(arch.basic_block(c_in, c_out, stride), seed)
    out = _bn(F.conv2d(F.relu(_bn(F.conv2d(x, b.conv1.weight, None, stride, 1), b.bn1)), b.conv2.weight, None, 1, 1),
              b.bn2)
    short = x if b.downsample is None else _bn(F.conv2d(x, b.downsample[0].weight, None, stride), b.downsample[1])
    torch.testing.assert_close(b(x), F.relu(out + short))
    p = _randomise(arch.preact_block(c_in, c_out, stride), seed)
    pre = F.relu(_bn(x, p.bn1))
    out = F.conv2d(F.relu(_bn(F.conv2d(pre, p.conv1.weight, None, stride, 1), p.bn2)), p.conv2.weight, None, 1, 1)
    short = x if p.shortcut is None else F.conv2d(pre, p.shortcut.weight, None, stride)
    torch.testing.assert_close(p(x), out + short)


@settings(deadline=None, max_examples=15)
@given(cfg=st.lists(st.integers(1, 5), min_size=7, max_size=7), size=st.integers(1, 8))
def test_inception_module_shapes_and_branches(cfg, size):
    module = arch.inception_v1_module(*cfg)
    x = torch.randn(1, cfg[0], size, size)
    out = module(x)
    assert out.shape == (1, cfg[1] + cfg[3] + cfg[5] + cfg[6], size, size)
    torch.testing.assert_close(out[:, :cfg[1]], F.relu(module.branch1[0](x)))


@settings(deadline=None, max_examples=15)
@given(d=st.integers(1, 10), bias=st.floats(-3, 1))
def test_highway_layer_formula(d, bias):
    layer = arch.highway_layer(d, bias)
    assert torch.all(layer.gate.bias == torch.tensor(bias, dtype=torch.float32))
    x = torch.randn(4, d)
    t = torch.sigmoid(x @ layer.gate.weight.T + layer.gate.bias)
    torch.testing.assert_close(layer(x), F.relu(x @ layer.transform.weight.T + layer.transform.bias) * t + x * (1 - t))


def test_bottleneck_and_googlenet_shapes():
    block = arch.bottleneck_block(8, 4, stride=2)
    assert block(torch.randn(1, 8, 9, 9)).shape == (1, 16, 5, 5)
    net = arch.googlenet(10, aux_logits=True).train()
    outs = net(torch.randn(1, 3, 224, 224))
    assert [o.shape for o in outs] == [(1, 10)] * 3
    target = torch.tensor([2])
    torch.testing.assert_close(arch.googlenet_loss(outs, target), F.cross_entropy(outs[0], target) + 0.3 * (
        F.cross_entropy(outs[1], target) + F.cross_entropy(outs[2], target)))
    assert net.eval()(torch.randn(1, 3, 224, 224)).shape == (1, 10)


def test_bad_input():
    with pytest.raises(ValueError, match="num_convs"):
        arch.vgg_stage(3, 8, 0)
    with pytest.raises(ValueError, match="odd"):
        arch.asymmetric_conv(3, 3, 4)
    with pytest.raises(ValueError, match="block"):
        arch.resnet("wide", [2, 2, 2, 2])
    with pytest.raises(ValueError, match="layers"):
        arch.resnet("basic", [2, 2, 2])
    with pytest.raises(ValueError, match="stride"):
        arch.basic_block(3, 3, 0)


def test_digits_net_variants_share_parameters():
    plain, res = arch.DigitsNet(3, False), arch.DigitsNet(3, True)
    assert _params(plain) == _params(res)
    assert plain(torch.randn(2, 1, 8, 8)).shape == (2, 10)


# --------------------------------------------------------------------------- the module checks

def test_module_references_pass_their_checks():
    for name in ("vgg_stage", "nin_block", "inception_v1_module", "basic_block", "bottleneck_block",
                 "preact_block", "highway_layer"):
        ex = dataclasses.replace(EXERCISES[name], forbid=())
        assert run_exercise(ex, getattr(arch, name), quiet=True) > 0


class _NoFinalRelu(arch.BasicBlock):
    def forward(self, x):
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return out + (x if self.downsample is None else self.downsample(x))


class _PreActShortcutFromX(arch.PreActBlock):
    def forward(self, x):
        pre = torch.relu(self.bn1(x))
        identity = x if self.shortcut is None else self.shortcut(x)
        return self.conv2(torch.relu(self.bn2(self.conv1(pre)))) + identity


class _SwappedConcat(arch.InceptionV1):
    def forward(self, x):
        return torch.cat([self.branch2(x), self.branch1(x), self.branch3(x), self.branch4(x)], dim=1)


class _OtherOrder(nn.Module):
    """The reference's layer names, registered in another order (convolutions first)."""

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.downsample = (nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
                           if stride != 1 or c_in != c_out else None)
        self.bn1, self.bn2 = nn.BatchNorm2d(c_out), nn.BatchNorm2d(c_out)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))) + identity)


class _WrongOrder(nn.Module):
    """Names of its own, and an order the reference's cannot be matched with."""

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.a = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.b = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.c, self.d = nn.BatchNorm2d(c_out), nn.BatchNorm2d(c_out)


def test_module_checks_pair_layers_by_name_in_any_registration_order():
    check("basic_block", lambda *a, **k: _OtherOrder(*a, **k))


@pytest.mark.parametrize(("name", "fn", "message"), [
    ("basic_block", lambda *a, **k: _NoFinalRelu(*a, **k), "after the layers"),
    ("preact_block", lambda *a, **k: _PreActShortcutFromX(*a, **k), "the input of `shortcut`"),
    ("inception_v1_module", lambda *a: _SwappedConcat(*a), "order of the concatenation"),
    ("basic_block", lambda *a, **k: _WrongOrder(*a, **k), "registration order"),
    ("basic_block", lambda *a, **k: None, "return"),
    ("vgg_stage", lambda c, f, n: nn.Sequential(*[m for i in range(n) for m in (
        nn.Conv2d(c if i == 0 else f, f, 3), nn.ReLU())], nn.MaxPool2d(2)), "the output of `0` (Conv2d) has shape"),
    ("highway_layer", lambda d, gate_bias=-2.0: _highway(d), "should start with every value equal to"),
    ("vgg_param_count", lambda stages, num_classes=1000, in_channels=3: 0, "expected 138357544"),
])
def test_checks_explain_wrong_modules(name, fn, message):
    with pytest.raises(CheckFailure, match=re.escape(message)):
        check(name, fn)


def _highway(d):
    layer = nn.Module()
    layer.transform, layer.gate = nn.Linear(d, d), nn.Linear(d, d)   # gate bias left at torch's default
    layer.forward = lambda x: x
    return layer


def test_calling_the_reference_earns_nothing():
    with pytest.raises(ForbiddenError, match="switched off"):
        check("basic_block", arch.basic_block)
    with pytest.raises(ForbiddenError):
        check("vgg_param_count", arch.vgg_param_count)
