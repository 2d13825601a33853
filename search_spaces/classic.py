"""The early plain convnets of the lectures: LeNet-5, AlexNet (single tower, as taught) and ZFNet.

They are baselines only (the ``vgg`` space covers plain conv stacks for search). Each is written
as a table of layers; ``input_size <= 64`` selects the documented small-input form.
"""
from __future__ import annotations

from typing import Any

from nas.baselines import register
from nas.graph import Architecture, GraphBuilder

# (name, op, attributes). "conv": (out, k, stride, padding); "pool": (k, stride, padding); "lrn": ()
Layer = tuple[str, str, tuple[Any, ...]]

LENET5: list[Layer] = [
    ("conv1", "conv", (6, 5, 1, 0)), ("pool1", "pool", (2, 2, 0)),
    ("conv2", "conv", (16, 5, 1, 0)), ("pool2", "pool", (2, 2, 0)),
]
ALEXNET: list[Layer] = [
    ("conv1", "conv", (96, 11, 4, 0)), ("pool1", "pool", (3, 2, 0)), ("norm1", "lrn", ()),
    ("conv2", "conv", (256, 5, 1, 2)), ("pool2", "pool", (3, 2, 0)), ("norm2", "lrn", ()),
    ("conv3", "conv", (384, 3, 1, 1)), ("conv4", "conv", (384, 3, 1, 1)), ("conv5", "conv", (256, 3, 1, 1)),
    ("pool3", "pool", (3, 2, 0)),
]
# ZFNet as the lecture states it: AlexNet with CONV1 7x7 stride 2 and CONV3/4/5 at 512/1024/512;
# paddings chosen to give the paper's map sizes 110-55-26-13-13-13-6 at 224 px.
ZFNET: list[Layer] = [
    ("conv1", "conv", (96, 7, 2, 1)), ("pool1", "pool", (3, 2, 1)), ("norm1", "lrn", ()),
    ("conv2", "conv", (256, 5, 2, 0)), ("pool2", "pool", (3, 2, 1)), ("norm2", "lrn", ()),
    ("conv3", "conv", (512, 3, 1, 1)), ("conv4", "conv", (1024, 3, 1, 1)), ("conv5", "conv", (512, 3, 1, 1)),
    ("pool3", "pool", (3, 2, 0)),
]


def _plain_net(layers: list[Layer], fc: list[int], dropout: float, num_classes: int, in_channels: int,
               input_size: int, name: str, act: str = "relu") -> Architecture:
    b = GraphBuilder()
    x = b.input
    with b.scope("features"):
        for layer_name, op, a in layers:
            if op == "conv":
                out, k, stride, padding = a
                x = b.act(b.conv(x, out, k, stride, padding, bias=True, name=layer_name), act, name=f"{layer_name}_act")
            elif op == "pool":
                k, stride, padding = a
                x = b.maxpool(x, k, stride, padding, name=layer_name)
            else:  # AlexNet paper / Caffe LRN settings
                x = b.lrn(x, size=5, alpha=1e-4, beta=0.75, k=2.0, name=layer_name)
    with b.scope("classifier"):
        x = b.flatten(x)
        for i, width in enumerate(fc):
            if dropout:
                x = b.dropout(x, dropout, name=f"drop{i}")
            x = b.act(b.linear(x, width, name=f"fc{i}"), act, name=f"act{i}")
        x = b.linear(x, num_classes, name="fc_out")
    b.output(x)
    return b.build((in_channels, input_size, input_size), num_classes, name)


@register("lenet5", "classic", 32, "LeNet-5: conv5-6, pool, conv5-16, pool, FC 120-84-classes (ReLU, max pool)")
def lenet5(num_classes: int = 10, in_channels: int = 1, input_size: int = 32) -> Architecture:
    """LeNet-5 on 32x32 (61,706 params for 1x32x32 and 10 classes); ReLU and max pooling as taught.

    Inputs smaller than 32 px pad the first conv so its map is as at 32 px (28 px: padding 2, the
    usual MNIST form); larger inputs simply grow the flattened feature vector.
    """
    layers = list(LENET5)
    if input_size < 32:
        pad = (32 - input_size + 1) // 2
        layers[0] = ("conv1", "conv", (6, 5, 1, pad))
    return _plain_net(layers, [120, 84], 0.0, num_classes, in_channels, input_size, "lenet5")


@register("alexnet", "classic", 227, "AlexNet as taught: single tower 96-256-384-384-256 with LRN, 227x227")
def alexnet(num_classes: int = 1000, in_channels: int = 3, input_size: int = 227) -> Architecture:
    """The lecture's AlexNet (62,378,344 params at 227 px / 1000 classes); dropout 0.5 before FC6 and FC7.

    Small-input form (<= 64 px): CONV1 becomes 3x3 stride 1 (pad 1), the rest of the conv stack is
    unchanged, and the hidden FC layers are 1024 wide instead of 4096.
    """
    layers, fc = list(ALEXNET), [4096, 4096]
    if input_size <= 64:
        layers[0] = ("conv1", "conv", (96, 3, 1, 1))
        fc = [1024, 1024]
    return _plain_net(layers, fc, 0.5, num_classes, in_channels, input_size, "alexnet")


@register("zfnet", "classic", 224, "ZFNet as taught: AlexNet with CONV1 7x7/2 and CONV3/4/5 512/1024/512")
def zfnet(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224) -> Architecture:
    """ZFNet (Zeiler & Fergus 2013) in the lecture's form; maps 110-55-26-13-6 at 224 px.

    Small-input form (<= 64 px): CONV1 3x3 stride 1 and CONV2 stride 1 (pad 2), hidden FC 1024 wide.
    """
    layers, fc = list(ZFNET), [4096, 4096]
    if input_size <= 64:
        layers[0] = ("conv1", "conv", (96, 3, 1, 1))
        layers[3] = ("conv2", "conv", (256, 5, 1, 2))
        fc = [1024, 1024]
    return _plain_net(layers, fc, 0.5, num_classes, in_channels, input_size, "zfnet")
