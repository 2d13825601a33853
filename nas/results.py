"""Run folders: one row per trial, written durably as trials finish, read back into pandas.

A run folder ``results/<run_id>/`` holds:

* ``config.json`` - everything needed to rerun or resume the search (written by the runner);
* ``trials.jsonl`` - the journal: one JSON line per finished trial, appended, flushed and fsynced
  before anything else learns of the trial (the durable record);
* ``trials.parquet`` - the same rows as a table, rewritten atomically (temporary file, fsync,
  rename) from the journal as trials finish;
* ``searcher.json`` - the searcher's state, replaced atomically after every ask and tell;
* ``optuna.db`` - the optuna study, for the tpe / gp / nsga2 searchers.

:func:`load` reads ``trials.parquet`` when it is intact, adds journal rows it lacks (the table may
lag the journal by the trial finishing when a run was killed) and falls back to the journal alone
when the table is unreadable. Rows that are torn or hand-edited into nonsense are skipped, never
fatal: a warning counts them and ``df.attrs["skipped"]`` lists each with its reason.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping

from nas import schema
from nas.schema import STATUSES, USABLE_STATUSES

__all__ = [
    "COLUMNS", "STATUSES", "USABLE_STATUSES", "TrialLog", "load", "best", "pareto_front", "trained",
    "write_json_atomic", "read_json", "clean_row",
    "JOURNAL", "TABLE", "CONFIG", "STATE",
]

JOURNAL = "trials.jsonl"
TABLE = "trials.parquet"
CONFIG = "config.json"
STATE = "searcher.json"
#: Every column of the trials table, in order (kinds in :data:`nas.schema.COLUMNS`).
COLUMNS: tuple[str, ...] = tuple(schema.COLUMNS)


# ------------------------------------------------------------------ atomic files


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _replace_atomically(path: Path, write: Any) -> None:
    """Write through ``write(tmp_path)`` to a temporary file beside ``path``, fsync it, rename it over."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Replace ``path`` with ``obj`` as JSON, atomically (a reader sees the old or the new file)."""
    text = json.dumps(obj, indent=1, allow_nan=False)

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    _replace_atomically(Path(path), write)


def read_json(path: str | Path) -> Any:
    """The JSON in ``path``; ValueError naming the file when it is not valid JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); restore it or start a new run") from None


# ------------------------------------------------------------------ rows


def _plain(value: Any) -> Any:
    """JSON-safe value: NaN/inf become None, numpy scalars plain Python."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        try:
            value = value.item()
        except (AttributeError, ValueError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def clean_row(row: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """A row with every known column checked and normalised, or (None, why it is not usable)."""
    out: dict[str, Any] = {}
    for col, kind in schema.COLUMNS.items():
        v = _plain(row.get(col))
        if isinstance(v, str) and kind in ("list", "dict"):
            try:
                v = json.loads(v)
            except json.JSONDecodeError:
                return None, f"{col} is not valid JSON"
        bad = None
        if kind == "id":
            if not (isinstance(v, int) and not isinstance(v, bool)):
                bad = "must be an integer"
        elif kind == "status":
            if v not in STATUSES:
                bad = f"must be one of {', '.join(STATUSES)}"
        elif kind == "hash":
            if not (isinstance(v, str) and v):
                bad = "must be a non-empty string"
        elif v is None:
            pass
        elif kind == "str":
            if not isinstance(v, str):
                bad = "must be text"
        elif kind in ("count", "ref"):
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if not (isinstance(v, int) and not isinstance(v, bool)):
                bad = "must be an integer"
            elif kind == "count" and v < 0:
                bad = "must be an integer >= 0"
        elif kind in ("float", "time"):
            if not _number(v):
                bad = "must be a number"
        elif kind == "fraction":
            if not (_number(v) and 0.0 <= v <= 1.0):
                bad = "must be a number in [0, 1]"
        elif kind == "fractions":
            if not (isinstance(v, list) and all(x is None or (_number(x) and 0.0 <= x <= 1.0) for x in v)):
                bad = "must be a list of numbers in [0, 1]"
        elif kind == "list":
            if not isinstance(v, list):
                bad = "must be a list"
        elif kind == "dict":
            if not isinstance(v, dict):
                bad = "must be an object"
        if bad:
            return None, f"{col} {bad} (got {str(v)[:60]!r})"
        out[col] = v
    for col, kind in schema.COLUMNS.items():
        if out[col] is None and kind in _EMPTY:
            out[col] = _EMPTY[kind]()
    return out, None


_EMPTY: dict[str, Any] = {"list": list, "dict": dict, "fractions": list}


# ------------------------------------------------------------------ the writer


class TrialLog:
    """The trials of one run folder: durable appends to the journal, atomic rewrites of the table.

    Opening an existing folder reads its rows back (see :func:`load`) and cuts a torn last
    journal line (a write interrupted by a kill: that trial never finished durably).
    """

    def __init__(self, run_dir: str | Path, parquet_every: float = 10.0) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.journal = self.run_dir / JOURNAL
        self.table = self.run_dir / TABLE
        self.parquet_every = parquet_every
        self._cut_torn_tail()
        rows, skipped = _read_rows(self.run_dir)
        self.rows: list[dict[str, Any]] = rows
        self.skipped: list[dict[str, Any]] = skipped
        self._ids = {r["trial_id"] for r in rows}
        self._last_write = 0.0
        self._write_cost = 0.0
        self._dirty = bool(rows) and not self.table.exists()

    def _cut_torn_tail(self) -> None:
        if not self.journal.exists():
            return
        with open(self.journal, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
                f.flush()
                os.fsync(f.fileno())

    @property
    def trial_ids(self) -> set[int]:
        """Ids of the trials recorded so far."""
        return set(self._ids)

    def append(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Record a finished trial durably (journal line, fsync), then refresh the table.

        Raises ValueError for a row that would not load back (bad types) or a repeated trial id.
        """
        clean, why = clean_row(row)
        if clean is None:
            raise ValueError(f"trial row not recorded: {why}")
        if clean["trial_id"] in self._ids:
            raise ValueError(f"trial {clean['trial_id']} is already recorded in {self.journal}")
        line = json.dumps(clean, allow_nan=False, separators=(",", ":"))
        with open(self.journal, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.rows.append(clean)
        self._ids.add(clean["trial_id"])
        self._dirty = True
        self._maybe_write_table()
        return clean

    def _maybe_write_table(self) -> None:
        # rewriting the whole table is O(rows): when it gets slow, do it at most once per
        # `parquet_every` x its cost, so a week-long run spends <10% of the driver on it
        if time.monotonic() - self._last_write >= self.parquet_every * self._write_cost:
            self.flush()

    def flush(self) -> None:
        """Rewrite ``trials.parquet`` from the rows now (atomically)."""
        if not self._dirty:
            return
        started = time.monotonic()
        table = _to_arrow(self.rows)
        import pyarrow.parquet as pq

        _replace_atomically(self.table, lambda tmp: pq.write_table(table, tmp))
        self._last_write = time.monotonic()
        self._write_cost = self._last_write - started
        self._dirty = False

    def close(self) -> None:
        """Bring the table up to date."""
        self.flush()


# ------------------------------------------------------------------ tables


def _arrow_schema() -> Any:
    import pyarrow as pa

    types = {"id": pa.int64(), "str": pa.string(), "status": pa.string(), "hash": pa.string(),
             "list": pa.string(), "dict": pa.string(), "count": pa.int64(), "ref": pa.int64(),
             "fraction": pa.float64(),
             "fractions": pa.list_(pa.float64()), "float": pa.float64(), "time": pa.timestamp("us", tz="UTC")}
    return pa.schema([(col, types[kind]) for col, kind in schema.COLUMNS.items()])


def _to_arrow(rows: list[dict[str, Any]]) -> Any:
    import datetime as dt

    import pyarrow as pa

    cols: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for r in sorted(rows, key=lambda r: r["trial_id"]):
        for col, kind in schema.COLUMNS.items():
            v = r.get(col)
            if kind in ("list", "dict"):
                v = json.dumps(v)
            elif kind == "time" and v is not None:
                v = dt.datetime.fromtimestamp(v, tz=dt.timezone.utc)
            cols[col].append(v)
    return pa.Table.from_pydict(cols, schema=_arrow_schema())


def _rows_from_table(path: Path) -> list[dict[str, Any]]:
    import datetime as dt

    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    for r in rows:
        for col in ("start_time", "end_time"):
            if isinstance(r.get(col), dt.datetime):
                r[col] = r[col].timestamp()
    return rows


def _read_journal(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows, skipped = [], []
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    torn_tail = bool(lines and lines[-1])
    for i, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        where = {"source": JOURNAL, "line": i}
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            torn = torn_tail and i == len(lines)
            skipped.append({**where, "reason": "torn last line (write interrupted)" if torn else "not valid JSON"})
            continue
        if not isinstance(obj, dict):
            skipped.append({**where, "reason": "not a JSON object"})
            continue
        clean, why = clean_row(obj)
        if clean is None:
            skipped.append({**where, "reason": why})
        else:
            rows.append(clean)
    return rows, skipped


def _read_rows(run_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Intact rows of a run folder (table first, then journal rows it lacks) and what was skipped."""
    table, journal = run_dir / TABLE, run_dir / JOURNAL
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    seen: set[int] = set()

    def take(candidates: Iterable[dict[str, Any]], source: str, report_duplicates: bool) -> None:
        for r in candidates:
            if r["trial_id"] in seen:
                if report_duplicates:
                    skipped.append({"source": source, "trial_id": r["trial_id"], "reason": "repeated trial_id"})
                continue
            seen.add(r["trial_id"])
            rows.append(r)

    if table.exists():
        try:
            raw = _rows_from_table(table)
        except Exception as exc:  # any pyarrow error means an unreadable table
            skipped.append({"source": TABLE, "reason": f"unreadable, using the journal: {type(exc).__name__}: {exc}"})
        else:
            good = []
            for i, r in enumerate(raw):
                clean, why = clean_row(r)
                if clean is None:
                    skipped.append({"source": TABLE, "row": i, "reason": why})
                else:
                    good.append(clean)
            take(good, TABLE, report_duplicates=True)
    if journal.exists():
        j_rows, j_skipped = _read_journal(journal)
        skipped += j_skipped
        take(j_rows, JOURNAL, report_duplicates=not table.exists())
    rows.sort(key=lambda r: r["trial_id"])
    return rows, skipped


def load(run_dir: str | Path, warn: bool = True) -> Any:
    """The trials of a run folder as a ``pandas.DataFrame`` (one row per trial, by trial_id).

    ``mutations`` are lists of dicts, ``info`` dicts, ``start_time`` / ``end_time`` UTC
    timestamps. Torn or hand-edited rows are skipped: with ``warn`` a warning says how many and
    why, and ``df.attrs["skipped"]`` always lists them. FileNotFoundError when the folder holds
    no trials file at all.
    """
    import pandas as pd

    run_dir = Path(run_dir)
    if not (run_dir / TABLE).exists() and not (run_dir / JOURNAL).exists():
        raise FileNotFoundError(f"{run_dir} holds no {TABLE} or {JOURNAL}: not a run folder (or no trial finished yet)")
    rows, skipped = _read_rows(run_dir)
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    for col, kind in schema.COLUMNS.items():
        if kind in ("id",):
            df[col] = df[col].astype("int64")
        elif kind in ("count", "ref"):
            df[col] = df[col].astype("Int64")
        elif kind in ("float", "fraction"):
            df[col] = df[col].astype("float64")
        elif kind == "time":
            df[col] = pd.to_datetime(df[col], unit="s", utc=True)
    df.attrs["skipped"] = skipped
    df.attrs["run_dir"] = str(run_dir)
    if skipped and warn:
        reasons = sorted({s["reason"].split(" (got")[0] for s in skipped})
        warnings.warn(f"{run_dir}: skipped {len(skipped)} unreadable row(s) or file(s): {'; '.join(reasons)[:500]} "
                      f"(details in df.attrs['skipped'])", stacklevel=2)
    return df


# ------------------------------------------------------------------ analysis helpers


def trained(df: Any) -> Any:
    """The rows that were trained here: cached rows (a repeat of an architecture already trained in
    the run, ``cached_from`` set) left out, so each architecture appears once."""
    rows = df[df["cached_from"].isna()] if "cached_from" in df.columns else df
    return rows.drop_duplicates("arch_hash", keep="first")


def best(df: Any, n: int = 5, by: str = "val_acc") -> Any:
    """The ``n`` usable trials with the highest ``by``, each architecture once."""
    rows = trained(df)
    ok = rows[rows["status"].isin(USABLE_STATUSES) & rows[by].notna()]
    return ok.sort_values([by, "macs"], ascending=[False, True], kind="stable").head(n)


def pareto_front(df: Any, accuracy: str = "val_acc", cost: str = "macs") -> Any:
    """Trials not dominated on (``accuracy`` up, ``cost`` down), cheapest first, each architecture once."""
    rows = trained(df)
    ok = rows[rows["status"].isin(USABLE_STATUSES) & rows[accuracy].notna() & rows[cost].notna()]
    ok = ok.sort_values([cost, accuracy], ascending=[True, False], kind="stable")
    keep, top = [], -math.inf
    for idx, acc in zip(ok.index, ok[accuracy]):
        if acc > top:
            keep.append(idx)
            top = acc
    return ok.loc[keep]
