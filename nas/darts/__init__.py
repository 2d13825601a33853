"""Differentiable architecture search (DARTS family) on cell spaces, with guards against collapse.

``darts_search(space, data, epochs=..., seed=..., guards=..., order=1|2, pc=K, out_dir=...,
resume=...)`` relaxes every edge of the space's cell into a mixture of its candidate ops, trains
network weights on one half of the training split and architecture weights on the other,
alternately, and returns a :class:`DartsResult` whose ``arch`` is an ordinary point of the space
(``space.build(choices)``). The pieces:

* :mod:`nas.darts.cells` - what is relaxed: a space's cell kinds, edges, ops and choices (nb201, darts);
* :mod:`nas.darts.supernet` - the supernet, compiled from the space's own edge writers with the
  op table and compiler (one-hot weights compute exactly the discrete network);
* :mod:`nas.darts.guards` - DrNAS (Dirichlet), beta-DARTS, skip cap with progressive pruning, early
  stopping on a collapse signal;
* :mod:`nas.darts.derive` - discretisation and collapse statistics;
* :mod:`nas.darts.search` - the loop, checkpoints per epoch, history.

The default guards (:data:`DEFAULT_GUARDS`) were chosen by measurement: see scripts/bench_darts.py.
"""
from nas.darts.cells import DartsError, relaxable_spaces, relaxation
from nas.darts.guards import DEFAULT_GUARDS, PRESETS, Guards
from nas.darts.search import (CHECKPOINT, HISTORY, RESULT, CheckpointMismatch, DartsConfig, DartsResult, budget_arch_lr,
                              darts_search, default_arch_lr, print_history)
from nas.darts.supernet import Supernet

__all__ = [
    "darts_search", "DartsConfig", "DartsResult", "DartsError", "Guards", "DEFAULT_GUARDS", "PRESETS",
    "Supernet", "relaxation", "relaxable_spaces", "print_history", "HISTORY", "CHECKPOINT", "RESULT",
    "budget_arch_lr", "default_arch_lr", "CheckpointMismatch",
]
