"""ResNet family: exact reference costs, the five BN/ReLU placements, highway gates, BagNets, and the space."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import nas
from nas.testing import torch_counts
from nas.spaces import SpaceError
from search_spaces import resnet as R

# (params, MACs) at 3x224x224 and 1000 classes. Params: torchvision model docs / sum of parameters of
# torchvision.models.<name>() (resnext101_32x4d: timm). MACs: FlopCounterMode / 2 on the reference
# definitions (torchvision lists 1.81 / 3.66 / 4.09 / 7.80 / 11.51 / 4.23 / 16.41 GFLOPS, meaning GMACs).
# resnet18's MACs were checked by hand layer by layer (1,814,073,344; the brief's 1,814,073,856 is off by 512).
IMAGENET_REFERENCE = {
    "resnet18": (11_689_512, 1_814_073_344),
    "resnet34": (21_797_672, 3_663_761_408),
    "resnet50": (25_557_032, 4_089_184_256),
    "resnet101": (44_549_160, 7_801_405_440),
    "resnet152": (60_192_808, 11_513_626_624),
    "resnext50_32x4d": (25_028_904, 4_230_479_872),
    "resnext101_32x4d": (44_177_704, 7_969_996_800),
    "resnext101_32x8d": (88_791_336, 16_414_015_488),
}

# CIFAR ResNets (He et al. 2015 Sec. 4.2), 3x32x32, 10 classes. Option A (zero-pad shortcuts, the
# baselines): 0.27M / 0.85M / 1.7M as the paper's Table 6 (and akamaster/pytorch_resnet_cifar10).
CIFAR_OPTION_A = {
    "resnet20": (269_722, 40_551_040),
    "resnet56": (853_018, 125_485_696),
    "resnet110": (1_727_962, 252_887_680),
}
# The same nets with option B (1x1 projection + BN where the shape changes): the often quoted counts.
CIFAR_OPTION_B_PARAMS = {"resnet20": 272_474, "resnet56": 855_770, "resnet110": 1_730_714}

# Official BagNets (wielandbrendel/bag-of-local-features-models, bagnets/pytorchnet.py) at 3x224x224,
# 1000 classes: sum of parameters and FlopCounterMode / 2 of a plain-torch restatement of that code.
BAGNET_REFERENCE = {
    "bagnet9": (15_688_744, 15_932_243_968),
    "bagnet17": (16_213_032, 15_654_502_400),
    "bagnet33": (18_310_184, 16_259_530_752),
}

PLACEMENTS = ("post", "bn_after_add", "relu_before_add", "relu_preact", "preact")


def cifar_name(placement: str, depth: int = 110) -> str:
    return R.PLACEMENT_NAMES[placement][0] + f"resnet{depth}"


def meta_flops(arch: nas.Architecture) -> int:
    return 2 * torch_counts(arch)[0]


def ops_in_scope(arch: nas.Architecture, scope: str) -> list[str]:
    """Ops of the nodes named ``scope.*`` in the order they were written."""
    return [d["op"] for n, d in arch.graph.nodes(data=True) if n.startswith(scope + ".")]


def chain_before(arch: nas.Architecture, node: str, length: int) -> list[str]:
    """Ops of the ``length`` nodes leading into ``node`` through input port 0 (nearest first)."""
    ops, g = [], arch.graph
    for _ in range(length):
        node = next(src for src, _, port in g.in_edges(node, data="port") if port == 0)
        ops.append(g.nodes[node]["op"])
    return ops


# ----------------------------------------------------------------------------- reference numbers


@pytest.mark.parametrize("name", list(IMAGENET_REFERENCE))
def test_imagenet_nets_match_reference_params_and_macs(name: str) -> None:
    cost = nas.count(nas.baselines.build(name))
    assert (cost.params, cost.macs) == IMAGENET_REFERENCE[name]


@pytest.mark.parametrize("name", list(CIFAR_OPTION_A))
def test_cifar_resnets_match_option_a_and_option_b_counts(name: str) -> None:
    cost = nas.count(nas.baselines.build(name, num_classes=10))
    assert (cost.params, cost.macs) == CIFAR_OPTION_A[name]
    space = R.cifar_space(3, 32, 10)
    option_b = {**R.cifar_choices(space, name), "s1.shortcut": "projection", "s2.shortcut": "projection"}
    assert nas.count(space.build(option_b)).params == CIFAR_OPTION_B_PARAMS[name]


def test_resnet164_is_the_bottleneck_cifar_net() -> None:
    # He et al. 2016: 1.7M params; projection shortcuts without BN in the pre-activation form.
    post = nas.count(nas.baselines.build("resnet164", num_classes=10))
    pre = nas.count(nas.baselines.build("preact_resnet164", num_classes=10))
    assert (post.params, pre.params, post.macs) == (1_704_154, 1_703_258, 247_646_720)
    assert post.depth == 164


@pytest.mark.parametrize("name", list(BAGNET_REFERENCE))
def test_bagnets_match_the_official_code(name: str) -> None:
    cost = nas.count(nas.baselines.build(name))
    assert (cost.params, cost.macs) == BAGNET_REFERENCE[name]


class BagNetOracle(torch.nn.Module):
    """An independent plain-torch statement of the official BagNet (bagnets/pytorchnet.py): stem 1x1 conv,
    unpadded 3x3 conv, BN, ReLU; ResNet-50 bottlenecks whose middle conv is an unpadded 3x3 in the first
    ``kernel3[i]`` blocks of stage i (1x1 elsewhere), stride on it; shortcut cropped bottom/right."""

    def __init__(self, kernel3: tuple[int, ...], strides: tuple[int, ...] = (2, 2, 2, 1)) -> None:
        super().__init__()
        nn = torch.nn
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 1, bias=False), nn.Conv2d(64, 64, 3, bias=False),
                                  nn.BatchNorm2d(64), nn.ReLU())
        self.blocks, c_in = nn.ModuleList(), 64
        for i, (n, planes) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512))):
            for j in range(n):
                stride, k = (strides[i] if j == 0 else 1), (3 if j < kernel3[i] else 1)
                body = nn.Sequential(
                    nn.Conv2d(c_in, planes, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(),
                    nn.Conv2d(planes, planes, k, stride, bias=False), nn.BatchNorm2d(planes), nn.ReLU(),
                    nn.Conv2d(planes, 4 * planes, 1, bias=False), nn.BatchNorm2d(4 * planes))
                short = (nn.Sequential(nn.Conv2d(c_in, 4 * planes, 1, stride, bias=False), nn.BatchNorm2d(4 * planes))
                         if j == 0 else nn.Identity())
                self.blocks.append(nn.ModuleList([body, short]))
                c_in = 4 * planes
        self.fc = nn.Linear(2048, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for body, short in self.blocks:
            h, s = body(x), short(x)
            s = s[:, :, : h.shape[2], : h.shape[3]]
            x = torch.relu(h + s)
        return self.fc(x.mean(dim=(2, 3)))


@pytest.mark.parametrize("name", ["bagnet9", "bagnet33"])
def test_bagnets_match_an_independent_torch_statement(name: str) -> None:
    with torch.device("meta"):
        oracle = BagNetOracle(R.BAGNETS[name])
        with FlopCounterMode(display=False) as counter:
            oracle(torch.empty(1, 3, 224, 224))
    params = sum(p.numel() for p in oracle.parameters())
    assert (params, counter.get_total_flops() // 2) == BAGNET_REFERENCE[name]


@pytest.mark.parametrize("name,size", [("resnet50", 224), ("resnext50_32x4d", 224), ("bagnet17", 224),
                                       ("preact_resnet56", 32), ("highway_resnet20", 32), ("resnet34", 32)])
def test_flop_counter_parity(name: str, size: int) -> None:
    arch = nas.baselines.build(name, num_classes=10, input_size=size)
    assert meta_flops(arch) == 2 * nas.count(arch).macs


def test_baselines_respect_channels_classes_and_small_inputs() -> None:
    arch = nas.baselines.build("resnet18", num_classes=10, in_channels=1, input_size=28)
    g = arch.graph
    assert g.nodes["conv1"]["k"] == 3 and g.nodes["conv1"]["stride"] == 1  # small-input stem
    assert not any(d["op"] == "maxpool" for _, d in g.nodes(data=True))
    assert nas.analyse(arch).shapes["fc"] == (10,)
    big = nas.baselines.build("resnet18", num_classes=10, in_channels=1)
    assert big.graph.nodes["conv1"]["k"] == 7 and big.graph.nodes["maxpool"]["op"] == "maxpool"
    # params differ from the 3-channel 1000-class net only in the stem conv and the classifier
    assert nas.count(big).params == 11_689_512 - 2 * 7 * 7 * 64 - 512 * 990 - 990
    for name in ("resnet20", "bagnet33", "resnext50_32x4d"):
        nas.validate(nas.baselines.build(name, num_classes=10, in_channels=1, input_size=28))


# ----------------------------------------------------------------------------- placements


def test_the_five_placements_differ_and_have_the_documented_structure() -> None:
    archs = {p: nas.baselines.build(cifar_name(p), num_classes=10) for p in PLACEMENTS}
    assert len({nas.arch_hash(a) for a in archs.values()}) == 5
    block = {  # ops of block layer2.1 in order (the lecture table / He et al. 2016 Fig. 4)
        "post": ["conv", "bn", "relu", "conv", "bn", "add", "relu"],
        "bn_after_add": ["conv", "bn", "relu", "conv", "add", "bn", "relu"],
        "relu_before_add": ["conv", "bn", "relu", "conv", "bn", "relu", "add"],
        "relu_preact": ["relu", "conv", "bn", "relu", "conv", "bn", "add"],
        "preact": ["bn", "relu", "conv", "bn", "relu", "conv", "add"],
    }
    before_pool = {  # ops leading into global average pooling
        "post": ["relu", "add"],
        "bn_after_add": ["relu", "bn", "add"],
        "relu_before_add": ["add", "relu"],
        "relu_preact": ["relu", "add"],
        "preact": ["relu", "bn", "add"],
    }
    stem = {"post": ["conv", "bn", "relu"], "preact": ["conv"], "relu_preact": ["conv", "bn"]}
    for p, arch in archs.items():
        assert ops_in_scope(arch, "layer2.1") == block[p], p
        assert chain_before(arch, "avgpool", len(before_pool[p])) == before_pool[p], p
        stem_ops = [d["op"] for n, d in arch.graph.nodes(data=True) if n in ("conv1", "bn1", "relu")]
        assert stem_ops == stem.get(p, stem["post"]), p
        assert nas.count(arch).params == CIFAR_OPTION_A["resnet110"][0]  # placement moves BN, never adds one


def test_preact_shortcut_reads_the_preactivated_input() -> None:
    g = nas.baselines.build("preact_resnet20", num_classes=10).graph
    assert list(g.predecessors("layer2.0.downsample.pad")) == ["layer2.0.relu1"]
    assert "layer1.0.relu1" not in g.predecessors("layer1.0.add")  # identity shortcut: raw input


def test_mixed_placements_get_their_tail_between_stages() -> None:
    space = R.cifar_space(3, 32, 10)
    g = space.build({**R.cifar_choices(space, "resnet20", "preact"), "s1.placement": "post"}).graph
    assert [g.nodes[n]["op"] for n in ("layer1.tail_bn", "layer1.tail_relu")] == ["bn", "relu"]
    assert "layer3.tail_bn" in g and "layer2.tail_bn" not in g


# ----------------------------------------------------------------------------- highway, ResNeXt, BagNet


def test_highway_baseline_gates_every_block() -> None:
    arch = nas.baselines.build("highway_resnet20", num_classes=10)
    flat = nas.analyse(arch)
    gates = [n for n in flat.order if flat.attrs[n]["op"] == "gate"]
    assert len(gates) == 9 and not any(flat.attrs[n]["op"] == "add" for n in flat.order)
    for gate in gates:
        h, t, x = flat.inputs[gate]
        assert flat.attrs[t]["op"] == "sigmoid"
        (conv,) = flat.inputs[t]
        assert flat.attrs[conv]["k"] == (1, 1) and flat.attrs[conv]["bias"] is True
        assert flat.shapes[h] == flat.shapes[t] == flat.shapes[x]
    assert nas.count(arch).params == CIFAR_OPTION_A["resnet20"][0] + 13_904  # the nine 1x1 gate convs


def test_resnext_block_is_a_grouped_bottleneck() -> None:
    g = nas.baselines.build("resnext50_32x4d").graph
    assert {k: g.nodes["layer1.0.conv2"][k] for k in ("out", "groups", "k")} == {"out": 128, "groups": 32, "k": 3}
    assert g.nodes["layer4.0.conv2"]["out"] == 1024 and g.nodes["layer4.0.conv3"]["out"] == 2048
    assert g.nodes["layer2.0.conv2"]["stride"] == 2  # stride on the 3x3, torchvision "v1.5"


def receptive_field(arch: nas.Architecture) -> int:
    """Largest receptive field (in input pixels) of any unit feeding global pooling."""
    flat = nas.analyse(arch)
    rf: dict[str, tuple[int, int]] = {}
    for n in flat.order:
        a = flat.attrs[n]
        ins = [rf[s] for s in flat.inputs[n]]
        if not ins:
            rf[n] = (1, 1)
            continue
        r, jump = max(ins)
        if a["op"] in ("conv", "maxpool", "avgpool"):
            k, s = a["k"][0], a["stride"][0]
            r, jump = r + (k - 1) * jump, jump * s
        elif a["op"] == "pad":
            jump *= a["stride"][0]
        rf[n] = (r, jump)
        if a["op"] == "gap":
            return r
    raise AssertionError("no global pooling")


@pytest.mark.parametrize("name,patch,small_patch", [("bagnet9", 9, 7), ("bagnet17", 17, 11), ("bagnet33", 33, 19)])
def test_bagnet_structure_and_patch_size(name: str, patch: int, small_patch: int) -> None:
    arch = nas.baselines.build(name)
    g = arch.graph
    assert receptive_field(arch) == patch
    assert [g.nodes[n]["k"] for n in ("conv1", "conv2")] == [1, 3] and g.nodes["conv2"]["padding"] == 0
    assert g.nodes["bn1"]["momentum"] == 0.001
    assert g.nodes["layer1.0.conv2"]["stride"] == 2 and g.nodes["layer4.0.conv2"]["stride"] == 1
    assert all(d["padding"] == 0 for _, d in g.nodes(data=True) if d["op"] == "conv")
    assert any(d["op"] == "crop" for _, d in g.nodes(data=True))
    assert receptive_field(nas.baselines.build(name, input_size=32)) == small_patch


# ----------------------------------------------------------------------------- the space


def test_baselines_are_points_of_the_space() -> None:
    imagenet = nas.spaces.get("resnet", input_shape=(3, 224, 224), num_classes=1000)
    for name in IMAGENET_REFERENCE:
        assert imagenet.contains(nas.baselines.build(name)), name
    cifar = nas.spaces.get("resnet", input_shape=(3, 32, 32), num_classes=10)
    cifar_names = [n for n in nas.baselines.names("resnet") if nas.baselines.entry(n).default_input_size == 32]
    assert len(cifar_names) == 18 and "highway_resnet20" in cifar_names
    for name in cifar_names:
        assert cifar.contains(nas.baselines.build(name, num_classes=10)), name
    assert not imagenet.contains(nas.baselines.build("resnet20"))
    assert not cifar.contains(nas.baselines.build("resnet50", num_classes=10))
    small = nas.spaces.get("resnet", input_shape=(3, 32, 32), num_classes=10, stages=4, base_width=64, max_blocks=36)
    assert small.contains(nas.baselines.build("resnet50", num_classes=10, input_size=32))
    for name in BAGNET_REFERENCE:
        for size in (224, 32):
            arch = nas.baselines.build(name, num_classes=10, input_size=size)
            assert R.space_for_baseline(name, input_size=size, num_classes=10).contains(arch), (name, size)


def test_mutations_cover_every_kind_and_stay_in_the_space() -> None:
    space = nas.spaces.get("resnet", input_shape=(3, 32, 32), num_classes=10)
    rng = np.random.default_rng(0)
    arch = nas.baselines.build("resnet20", num_classes=10)
    kinds: dict[str, int] = {}
    rewired: set[str] = set()
    for _ in range(300):
        child, mutation = space.mutate(arch, rng)
        kinds[mutation.kind] = kinds.get(mutation.kind, 0) + 1
        if mutation.kind == "rewire":
            rewired.add(mutation.where.rsplit(".", 1)[1])
        assert space.choices(child) != space.choices(arch)
        arch = child
    assert set(kinds) == set(space.mutation_kinds)
    assert rewired == {"shortcut", "placement", "highway"}
    assert space.contains(arch)
    nas.validate(arch)


def test_valid_padding_space_samples_and_mutates_within_the_input() -> None:
    space = R.bagnet_space(3, 32, 10)
    rng = np.random.default_rng(1)
    for _ in range(20):
        arch = space.sample(rng)
        child, _ = space.mutate(arch, rng)
        nas.validate(arch), nas.validate(child)
        assert space.contains(child)


def test_space_options_are_checked() -> None:
    with pytest.raises(SpaceError, match="reduce_at"):
        nas.spaces.get("resnet", input_shape=(3, 32, 32), reduce_at=(5,))
    with pytest.raises(SpaceError, match="blocks"):
        nas.spaces.get("resnet", input_shape=(3, 32, 32), blocks=("dense",))
    with pytest.raises(SpaceError, match="kernels"):
        nas.spaces.get("resnet", input_shape=(3, 32, 32), kernels=(2,))
    cifar = nas.spaces.get("resnet", input_shape=(3, 32, 32))
    with pytest.raises(SpaceError, match="stem.width"):  # a 4-stage ImageNet net is no point of it
        cifar.build(R.imagenet_choices(R.imagenet_space(3, 32, 10), "resnet18"))
    resnet20 = cifar.choices(nas.baselines.build("resnet20", num_classes=10))
    with pytest.raises(SpaceError, match="s0.width"):
        cifar.build({**resnet20, "s0.width": 60})
    with pytest.raises(SpaceError, match="s0.shortcut"):  # stage 0 keeps its shape: no shortcut to choose
        cifar.build({**resnet20, "s0.shortcut": "pad"})
    with pytest.raises(SpaceError, match="depth_prior"):
        nas.spaces.get("resnet", depth_prior="geometric")


def test_choices_are_asked_only_where_they_change_the_network() -> None:
    space = nas.spaces.get("resnet", input_shape=(3, 32, 32), num_classes=10)
    parent = space.choices(nas.baselines.build("resnet20", num_classes=10))
    assert "s0.shortcut" not in parent and parent["s1.shortcut"] == parent["s2.shortcut"] == "pad"
    assert not any(n.endswith((".cardinality", ".group_width")) for n in parent)
    children = {f"{m.where}={m.to!r}": (child, m.kind) for child, m in
                space.neighbours(nas.baselines.build("resnet20", num_classes=10))}
    resnext, kind = children["s0.block='resnext'"]
    c = space.choices(resnext)
    assert kind == "change_op" and (c["s0.cardinality"], c["s0.group_width"]) == (32, 4)  # a new ResNeXt is 32x4d
    assert c["s0.shortcut"] == "projection"  # 16 -> 64 channels: now the shortcut type matters
    deeper, kind = children["s1.depth=4"]
    assert kind == "add_layer" and space.choices(deeper)["s1.b3.kernel"] == parent["s1.b2.kernel"]
    assert {k for k in children if k.startswith("s0.width=")} == {"s0.width=12", "s0.width=24"}  # adjacent widths
    assert children["s0.width=24"][1] == "change_width" and "s0.shortcut" in space.choices(children["s0.width=24"][0])


def test_depth_prior_is_shared_by_sample_and_suggest() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for prior, log in (("log", True), ("uniform", False)):
        space = nas.spaces.get("resnet", input_shape=(3, 32, 32), num_classes=10, depth_prior=prior)
        trial = optuna.create_study().ask()
        space.suggest(trial)
        assert trial.distributions["s0.depth"] == optuna.distributions.IntDistribution(1, 18, log=log)


def test_valid_padding_asks_a_kernel_only_where_every_kernel_fits() -> None:
    space = R.ResNetSpace((3, 32, 32), 10, stages=4, base_width=64, reduce_at=(1, 2), stem="bagnet",
                          padding="valid", kernels=(1, 3))
    # maps: stem 30, stage 0 -> 28, 1 -> 13, 2 -> 6, stage 3: 6 -> 4 -> 2, then no 3x3 fits
    choices = R.resnet_choices(space, "bottleneck", (1, 1, 1, 4), kernels=[[3], [3], [3], [3, 3, 3, 3]])
    assert "s3.b1.kernel" in choices and "s3.b2.kernel" not in choices and "s3.b3.kernel" not in choices
    arch = space.build(choices)
    assert [arch.graph.nodes[f"layer4.{j}.conv2"]["k"] for j in range(4)] == [3, 3, 1, 1]  # the largest that fits
    # a 1x1 in block 1 leaves a 4x4 map: blocks 2 and 3 get their choices back, copying block 1's kernel
    smaller = next(child for child, m in space.neighbours(arch) if m.where == "s3.b1.kernel")
    assert [space.choices(smaller)[f"s3.b{j}.kernel"] for j in range(4)] == [3, 1, 1, 1]
    no_one = R.ResNetSpace((3, 16, 16), 10, stages=1, base_width=16, stem="bagnet", padding="valid", kernels=(3, 5))
    with pytest.raises(SpaceError, match="no kernel"):
        R.resnet_choices(no_one, "basic", (8,))
    nas.validate(no_one.sample(0))  # sampling draws again until the network fits
