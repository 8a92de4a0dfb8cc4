"""Classic CNN architectures (Chapter 8) in torch: the blocks students write (VGG stage, NiN block,
Inception module, residual and Highway layers), whole networks in torchvision's layouts (so that
parameter counts match the published figures). The parameter / MAC counter is a tool:
:mod:`course_lib.profiling`.

    >>> import torch
    >>> from course_lib.profiling import profile
    >>> from course_lib.reference.architectures import resnet
    >>> with torch.device("meta"):               # no weights allocated
    ...     model = resnet("basic", [2, 2, 2, 2])
    >>> profile(model).total_params
    11689512
"""

from ._blocks import (
    BasicBlock,
    Bottleneck,
    HighwayLayer,
    InceptionV1,
    PreActBlock,
    asymmetric_conv,
    basic_block,
    bottleneck_block,
    highway_layer,
    inception_v1_module,
    nin_block,
    preact_block,
    vgg_stage,
)
from ._models import (
    INCEPTION_V1,
    VGG,
    VGG_STAGES,
    AlexNet,
    DigitsNet,
    GoogLeNet,
    ResNet,
    alexnet,
    googlenet,
    googlenet_loss,
    nin,
    resnet,
    vgg,
    vgg_param_count,
)

__all__ = ["INCEPTION_V1", "VGG", "VGG_STAGES", "AlexNet", "BasicBlock", "Bottleneck", "DigitsNet", "GoogLeNet",
           "HighwayLayer", "InceptionV1", "PreActBlock", "ResNet", "alexnet",
           "asymmetric_conv", "basic_block", "bottleneck_block", "googlenet", "googlenet_loss", "highway_layer",
           "inception_v1_module", "nin", "nin_block", "preact_block", "resnet", "vgg",
           "vgg_param_count", "vgg_stage"]
