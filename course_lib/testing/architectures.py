"""Exercise specifications for Chapter 8 (CNN architectures): the student returns torch modules,
checked layer by layer against the reference by :mod:`course_lib.testing._modules`."""

from __future__ import annotations

from ._modules import ModuleReference as _ModuleReference
from .core import REFERENCE_PACKAGE, Case, Exercise, answers

arch = answers("architectures")  # the answers, imported when first used

__all__ = ["EXERCISES"]

#: torch is allowed (this chapter is about torch modules); the course's reference modules are not.
_FORBID = (REFERENCE_PACKAGE,)


def _nchw(c, h, w=None, n=2):
    return (n, c, h, h if w is None else w)


# --------------------------------------------------------------------------- VGG

def _vgg_stage_visible():
    return [Case((3, 8, 2), note="two 3×3 convs (3→8, 8→8), then 2×2 max pooling"),
            Case((4, 4, 1), note="one conv"),
            Case((2, 6, 3), note="three convs: the receptive field of one 7×7"),
            Case((1, 5, 2), note="odd sizes are floored by the pooling: 9×9 → 4×4")]


def _vgg_stage_hidden(rng):
    return [Case((int(rng.integers(1, 6)), int(rng.integers(1, 9)), int(rng.integers(1, 5)))) for _ in range(6)]


def _vgg_count_visible():
    return [Case((arch.VGG_STAGES.resolve()["vgg16"],), note="VGG-16: 138,357,544 (torchvision)"),
            Case((arch.VGG_STAGES.resolve()["vgg11"],), note="VGG-11 (configuration A)"),
            Case((((64, 2), (128, 2)),), {"num_classes": 10}, note="two stages: the FC input is 128·7·7"),
            Case((((16, 1),),), {"num_classes": 2, "in_channels": 1}, note="one stage, grey images")]


def _vgg_count_hidden(rng):
    cases = []
    for _ in range(8):
        stages = tuple((int(rng.choice([8, 16, 32, 64, 512])), int(rng.integers(1, 5)))
                       for _ in range(int(rng.integers(1, 6))))
        cases.append(Case((stages,), {"num_classes": int(rng.integers(2, 1001)),
                                      "in_channels": int(rng.integers(1, 4))}))
    return cases + [Case((arch.VGG_STAGES.resolve()["vgg19"],))]


# --------------------------------------------------------------------------- AlexNet, NiN, Inception

_ALEX_ORDER = ("Register the layers in torchvision's order: features (5 convs), avgpool, classifier "
               "(3 linear layers).")


def _alexnet_visible():
    return [Case((), note="1000 classes: 61,100,840 parameters"),
            Case((10,), {"dropout": 0.3, "lrn": True}, note="10 classes, dropout 0.3, LRN after the first two ReLUs")]


def _alexnet_hidden(rng):
    return [Case((int(rng.integers(2, 200)),), {"dropout": float(rng.uniform(0, 0.9)), "lrn": bool(rng.random() < 0.5)})
            for _ in range(1)]


def _nin_visible():
    return [Case((3, 8, 3), {"padding": 1}, note="3×3 conv, padding 1, then two 1×1 convs"),
            Case((1, 4, 5), {"stride": 2}, note="5×5 conv with stride 2"),
            Case((2, 3, 1), note="1×1 everywhere")]


def _nin_hidden(rng):
    return [Case((int(rng.integers(1, 5)), int(rng.integers(1, 9)), int(k)),
                 {"stride": int(rng.integers(1, 3)), "padding": int(k) // 2})
            for k in rng.choice([1, 3, 5], size=5)]


_INC_ORDER = ("Create the branches in this order: branch 1 (1×1), branch 2 (1×1 reduce, 3×3), branch 3 "
              "(1×1 reduce, 5×5), branch 4 (pool, 1×1 projection).")


def _inception_visible():
    return [Case((8, 4, 3, 5, 2, 3, 2), note="small module: 4 + 5 + 3 + 2 = 14 output channels"),
            Case((3, 2, 2, 2, 2, 2, 2), note="every branch 2 channels"),
            Case((16, 8, 4, 6, 1, 2, 3), note="a 5×5 reduction to a single channel")]


def _inception_hidden(rng):
    return [Case(tuple(int(v) for v in rng.integers(1, 9, size=7))) for _ in range(5)]


# --------------------------------------------------------------------------- residual blocks

_BLOCK_ORDER = "Register the layers in the order of the docstring (torchvision's), the shortcut last."


def _block_visible():
    return [Case((4, 4), note="identity shortcut: same channels, stride 1"),
            Case((4, 8), {"stride": 2}, note="projection shortcut: 1×1 conv with stride 2 (+ BN)"),
            Case((6, 3), note="fewer channels, stride 1: the shortcut still needs a projection"),
            Case((3, 3), {"stride": 2}, note="stride 2 with the same channels: projection too")]


def _block_hidden(rng):
    return [Case((int(rng.integers(1, 9)), int(rng.integers(1, 9))), {"stride": int(rng.integers(1, 3))})
            for _ in range(6)]


def _bottleneck_visible():
    return [Case((16, 4), note="identity shortcut: 16 → 4 → 4 → 16 channels"),
            Case((8, 4), {"stride": 2}, note="projection: 8 → 16 channels, stride 2 on the 3×3 conv"),
            Case((4, 2), note="4 → 8 channels, stride 1: projection without stride")]


def _bottleneck_hidden(rng):
    cases = [Case((int(rng.integers(1, 9)), int(rng.integers(1, 5))), {"stride": int(rng.integers(1, 3))})
             for _ in range(5)]
    return cases + [Case((12, 3))]


def _resnet_visible():
    return [Case(("basic", [2, 2, 2, 2]), note="ResNet-18: 11,689,512 parameters"),
            Case(("bottleneck", [3, 4, 6, 3]), note="ResNet-50: 25,557,032 parameters"),
            Case(("basic", [1, 1, 1, 1]), {"num_classes": 10}, note="one block per stage, 10 classes")]


def _resnet_hidden(rng):
    return [Case((str(rng.choice(["basic", "bottleneck"])), [int(v) for v in rng.integers(1, 3, size=4)]),
                 {"num_classes": int(rng.integers(2, 50))}) for _ in range(2)]


def _highway_visible():
    return [Case((4,), note="gate bias −2: starts close to the identity"),
            Case((7,), {"gate_bias": -1.0}, note="gate bias −1"),
            Case((1,), {"gate_bias": 0.5}, note="one feature")]


def _highway_hidden(rng):
    return [Case((int(rng.integers(1, 20)),), {"gate_bias": float(rng.uniform(-3, 1))}) for _ in range(5)]


def _img(size):
    return lambda *a, **k: [_nchw(a[0], size), _nchw(a[0], size + 1, size - 2, n=1)]


EXERCISES = {ex.name: ex for ex in [
    Exercise("vgg_stage", _ModuleReference("vgg_stage", arch.vgg_stage,
                                           lambda c, *a, **k: [_nchw(c, 8), _nchw(c, 9, 6, 1)],
                                           "Order: conv, ReLU, ..., max pool."),
             _vgg_stage_visible, _vgg_stage_hidden, forbid=_FORBID),
    Exercise("vgg_param_count", arch.vgg_param_count, _vgg_count_visible, _vgg_count_hidden, forbid=_FORBID),
    Exercise("alexnet", _ModuleReference("alexnet", arch.alexnet, lambda *a, **k: [(1, 3, 67, 67)], _ALEX_ORDER),
             _alexnet_visible, _alexnet_hidden, forbid=_FORBID),
    Exercise("nin_block", _ModuleReference("nin_block", arch.nin_block, _img(9)), _nin_visible, _nin_hidden,
             forbid=_FORBID),
    Exercise("inception_v1_module", _ModuleReference("inception_v1_module", arch.inception_v1_module, _img(7),
                                                     _INC_ORDER),
             _inception_visible, _inception_hidden, forbid=_FORBID),
    Exercise("basic_block", _ModuleReference("basic_block", arch.basic_block, _img(8), _BLOCK_ORDER),
             _block_visible, _block_hidden, forbid=_FORBID),
    Exercise("bottleneck_block", _ModuleReference("bottleneck_block", arch.bottleneck_block, _img(8), _BLOCK_ORDER),
             _bottleneck_visible, _bottleneck_hidden, forbid=_FORBID),
    Exercise("preact_block", _ModuleReference("preact_block", arch.preact_block, _img(8), _BLOCK_ORDER),
             _block_visible, _block_hidden, forbid=_FORBID),
    Exercise("resnet", _ModuleReference("resnet", arch.resnet, lambda *a, **k: [(1, 3, 64, 64)],
                                        "Order: conv1, bn1, layer1..layer4, fc (torchvision's)."),
             _resnet_visible, _resnet_hidden, forbid=_FORBID),
    Exercise("highway_layer", _ModuleReference("highway_layer", arch.highway_layer,
                                               lambda d, *a, **k: [(5, d), (1, d)], "Order: transform, gate.",
                                               constants=lambda d, gate_bias=-2.0: {"gate.bias": gate_bias}),
             _highway_visible, _highway_hidden, forbid=_FORBID),
]}
