"""Run a search on Ray Tune: our searcher proposes, Ray trains candidates in parallel, rows land on disk.

:func:`run_search` drives any :mod:`nas.searchers` searcher. It reads as a short sequence of
small parts:

* :mod:`nas.runner.config` - :class:`SearchConfig` (everything that defines a search), its
  validation, :func:`parse_count`, the modules a search imports;
* :mod:`nas.runner.folder` - the run folder: lock, ``config.json``, the searcher's saved state
  and its restore;
* :mod:`nas.runner.driver` - asks the searcher, records each finished trial (journal row, tell,
  saved state, in that order), reuses the result of an architecture already evaluated in the
  run instead of training it again, and keeps the trial budget;
* :mod:`nas.runner.extras` / :mod:`nas.runner.baselines` - candidates the driver trains beside
  the search without the searcher (never told, outside the budget): the lecture baselines of
  ``baselines=[...]`` (``--with-baselines``), recorded with ``searcher == "baseline"``;
* :mod:`nas.runner.ray_backend` / :mod:`nas.runner.tune_parts` / :mod:`nas.runner.trial` - the
  Ray Tune backend: starting Ray (with :mod:`nas.runner.reaper`, which takes a local Ray down
  even after ``kill -9`` of the search), the Tune searcher over the driver, ASHA - multi-objective
  (:mod:`nas.runner.moasha`) for ``objective=accuracy_macs`` -, crash bookkeeping, and the trial
  function run on workers (:func:`nas.evaluate.evaluate` with the CPUs and GPU fraction it was
  given, reporting validation accuracy after every epoch);
* :mod:`nas.runner.stopping` - Ctrl-C, SIGTERM and time limits: a clean stop that records the
  running trials as ``interrupted`` and leaves the folder ready for ``--resume``;
* :mod:`nas.runner.local_backend` - ``workers=0``: the same trials one after another in this
  process, without Ray (for the NAS-Bench-201 table of :mod:`nas.benchmarks`, where a trial is
  a lookup, or a quick serial run).
* :mod:`nas.runner.whole_search` - searchers that run whole inside one trial (``darts``: one
  differentiable search, a whole GPU where there is one, one row, resumable from its last epoch).

A killed or interrupted run resumes (``resume=run_dir``) with no finished trial lost or re-run: results
journaled but not yet told are told from the journal, candidates asked but not finished are
asked again, and the searcher continues from its saved state. Failures never stop the search: a
candidate that raises, runs out of memory or diverges is recorded as ``failed``; one over
``max_macs`` / ``max_params`` as ``rejected`` (not trained); a lost worker is retried
``max_failures`` times by Tune before it is recorded as failed.
"""
from __future__ import annotations

from nas.runner.baselines import DEFAULT_BASELINES, BaselinePlan, plan_baselines
from nas.runner.config import RESUMABLE_FIELDS, ConfigError, SearchConfig, import_modules, parse_count
from nas.runner.driver import Driver
from nas.runner.extras import Extra, ExtraQueue
from nas.runner.folder import RunFolder
from nas.runner.local_backend import run_in_process
from nas.runner.ray_backend import ray_environment, start_ray
from nas.runner.search import SearchOutcome, SearchStopped, run_search
from nas.runner.stopping import SearchInterrupted, StopRequest
from nas.runner.trial import run_trial

__all__ = ["SearchConfig", "SearchOutcome", "SearchStopped", "SearchInterrupted", "StopRequest", "ConfigError",
           "run_search", "ray_environment", "parse_count", "start_ray", "RESUMABLE_FIELDS", "Driver", "RunFolder",
           "run_trial", "import_modules", "Extra", "ExtraQueue", "DEFAULT_BASELINES", "BaselinePlan", "plan_baselines",
           "run_in_process"]
