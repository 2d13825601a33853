"""``python -m nas.darts``: one differentiable search from the command line (until scripts/search.py runs it).

    python -m nas.darts --space nb201 --data fashion-mnist-embedded --epochs 10 --width 8 --cells 1 \\
        --out results/darts_nb201                      # history, checkpoint and result land there
    python -m nas.darts ... --out results/darts_nb201 --resume   # after a kill: continues from the last epoch
    python -m nas.darts ... --guards none              # plain DARTS; see nas.darts.Guards.parse for the rest
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, run :func:`nas.darts.darts_search`, print its report and alpha history."""
    p = argparse.ArgumentParser(prog="python -m nas.darts", description=__doc__.splitlines()[0])
    p.add_argument("--space", default="nb201", help="nb201 or darts (default nb201)")
    p.add_argument("--space-options", default="{}", help="JSON options of the space, e.g. '{\"C\": 16}'")
    p.add_argument("--data", default="fashion-mnist-embedded", help="any source nas.data.load reads")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--guards", default="default", help="a preset or combination (default: the default guards)")
    p.add_argument("--order", type=int, default=1, choices=(1, 2))
    p.add_argument("--pc", type=int, default=1, help="PC-DARTS partial channels K (1: off)")
    p.add_argument("--width", type=int, default=None, help="stem width of the search skeleton")
    p.add_argument("--cells", type=int, default=None, help="cells per stage (nb201) / cells (darts) when searching")
    p.add_argument("--options", default="{}", help="JSON DartsConfig fields, e.g. '{\"arch_lr\": 0.001}'")
    p.add_argument("--out", default=None, help="run folder (history, checkpoint, result)")
    p.add_argument("--resume", action="store_true", help="continue the search in --out")
    p.add_argument("--retrain-epochs", type=float, default=0, help="train the derived cell from scratch")
    p.add_argument("--device", default=None)
    p.add_argument("--plot", action="store_true", help="draw the alpha history (needs matplotlib)")
    args = p.parse_args(argv)

    import nas
    from nas.darts import DartsError, darts_search, print_history

    try:
        data = nas.data.load(args.data, val_fraction=args.val_fraction, seed=args.seed)
        space = nas.spaces.get(args.space, input_shape=data.input_shape, num_classes=data.num_classes,
                               **json.loads(args.space_options))
        result = darts_search(space, data, epochs=args.epochs, seed=args.seed, guards=args.guards, order=args.order,
                              pc=args.pc, out_dir=args.out, resume=args.resume, device=args.device,
                              retrain_epochs=args.retrain_epochs, width=args.width, cells=args.cells,
                              plot=args.plot, progress="bar" if sys.stderr.isatty() else True,
                              **json.loads(args.options))
    except (DartsError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(print_history(result))
    if result.retrain:
        print(f"retrained from scratch: val_acc {result.retrain.get('val_acc')} ({result.retrain.get('status')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
