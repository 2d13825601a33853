"""A search space of one's own: stages of residual conv blocks (the README's example).

Search it with every searcher: ``python scripts/search.py --import my_space.py --space my_space``.
"""
import nas


@nas.spaces.define("my_space")
def my_space(trial, b, max_stages: int = 3):
    """1-3 stages; each a width, 1-2 conv blocks (kernel 3 or 5, optionally residual), a 2x2 pool."""
    x = b.input
    for s in range(trial.suggest_int("stages", 1, max_stages)):
        width = trial.suggest_categorical(f"s{s}.width", [8, 16, 32], ordered=True, mutation="change_width")
        x = b.conv_bn_act(x, width, k=1)  # match the stage's width, so blocks can add their input
        for j in range(trial.suggest_int(f"s{s}.blocks", 1, 2)):
            kernel = trial.suggest_categorical(f"s{s}.b{j}.kernel", [3, 5], mutation="change_kernel")
            y = b.conv_bn_act(x, width, k=kernel)
            if trial.suggest_categorical(f"s{s}.b{j}.residual", [False, True], mutation="rewire"):
                y = b.add([x, y])
            x = y
        x = b.maxpool(x, 2)
    b.output(b.linear(b.gap(x), b.num_classes))
