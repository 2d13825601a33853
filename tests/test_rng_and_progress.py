"""Everything that takes ``rng`` takes an int seed or a numpy Generator (and says what to give
otherwise); ``nas.train(..., verbose=True)`` prints a line per epoch."""
from __future__ import annotations

import random

import numpy as np
import pytest

import nas
from nas.spaces import SpaceError
from nas.testing import corrupt, corrupt_json, random_architecture, relabel


def test_spaces_and_testing_tools_take_a_seed_or_a_generator() -> None:
    space = nas.spaces.get("vgg", input_shape=(1, 28, 28), num_classes=10)
    for seed in (0, np.int64(3)):
        a, b = space.sample(seed), space.sample(np.random.default_rng(int(seed)))
        assert nas.arch_hash(a) == nas.arch_hash(b)
        child, _ = space.mutate(a, seed)
        assert space.contains(child)
        assert nas.arch_hash(space.sample_without_limits(seed)) == nas.arch_hash(
            space.sample_without_limits(np.random.default_rng(int(seed))))
    net = random_architecture(5)
    assert nas.arch_hash(net) == nas.arch_hash(random_architecture(np.random.default_rng(5)))
    assert nas.arch_hash(relabel(net, 1)) == nas.arch_hash(net)
    assert corrupt(net, 2)[1] == corrupt(net, np.random.default_rng(2))[1]
    assert corrupt_json(net, 4) == corrupt_json(net, np.random.default_rng(4))
    from nas.choices import ChoiceError, RandomTrial

    assert RandomTrial(7).suggest_int("d", 1, 100) == RandomTrial(np.random.default_rng(7)).suggest_int("d", 1, 100)
    with pytest.raises(ChoiceError, match="numpy.random.Generator or a seed"):
        RandomTrial(random.Random(0))
    for bad in (random.Random(0), -1, True, 0.5):
        with pytest.raises(SpaceError, match="numpy.random.Generator or a seed"):
            space.sample(bad)
        with pytest.raises(SpaceError, match="numpy.random.Generator or a seed"):
            random_architecture(bad)


def test_train_verbose_prints_a_line_per_epoch(capsys: pytest.CaptureFixture[str], one_torch_thread: None) -> None:
    data = nas.data.load("fashion-mnist-embedded", val_fraction=0.25, seed=0, max_train=200)
    b = nas.GraphBuilder()
    b.output(b.linear(b.gap(b.conv_bn_act(b.input, 4, k=3)), 10))
    model = nas.compile(b.build(input_shape=(1, 28, 28), num_classes=10))
    seen: list[float] = []
    result = nas.train(model, data, epochs=1.5, device="cpu", batch_size=32, verbose=True,
                       on_epoch=lambda i, m: seen.append(m["planned_epochs"]))
    lines = capsys.readouterr().out.strip().splitlines()
    assert result["status"] == "ok" and len(lines) == 2 and seen == [pytest.approx(result["epochs"])] * 2
    assert lines[0].startswith("epoch 1/2: train_loss ") and "val_acc 0." in lines[0]
    assert lines[1].startswith("epoch 2/2: ") and f"({result['epochs']:.2f} epochs" in lines[1]
    nas.train(model, data, epochs=1, device="cpu", batch_size=32)
    assert capsys.readouterr().out == ""  # quiet unless asked
