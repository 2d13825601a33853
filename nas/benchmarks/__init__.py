"""Tabular NAS benchmarks: NAS-Bench-201 as a table the searchers and the runner can query.

* :mod:`nas.benchmarks.nb201` - the table: loading (once per process), validation, datasets;
* :mod:`nas.benchmarks.tabular` - the evaluator with :func:`nas.evaluate.evaluate`'s signature and
  the data object the runner reads the input shape and classes from;
* :mod:`nas.benchmarks.simulate` - searchers driven in-process through ask/tell on the table;
* :mod:`nas.benchmarks.scoring` - the returned cell, regret, queries to the top 1%, hypervolume.

``scripts/bench_nb201.py`` compares the searchers on it.
"""
from __future__ import annotations

from nas.benchmarks.nb201 import (DATASETS, NB201Table, TableError, cell_accuracies, cell_index, dataset_spec,
                                  load_table)
from nas.benchmarks.tabular import TabularData, evaluate, is_tabular, load_data

__all__ = ["DATASETS", "NB201Table", "TableError", "TabularData", "cell_accuracies", "cell_index", "dataset_spec", "evaluate",
           "is_tabular", "load_data", "load_table"]
