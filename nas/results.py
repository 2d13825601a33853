"""Run folders: one row per trial, written durably as trials finish, read back into pandas.

A run folder ``results/<run_id>/`` holds:

* ``config.json`` - everything needed to rerun or resume the search (written by the runner);
* ``trials.jsonl`` - the journal: one JSON line per finished (or interrupted) trial, appended and
  fsynced before anything else learns of the trial (the durable record; an append costs the same
  at the 20,000th trial as at the first);
* ``trials.parquet`` - a snapshot of the journal as a table, up to the journal offset it records
  in its metadata; rewritten atomically (temporary file, fsync, rename) every so many trials or
  seconds and when the search ends (see :class:`TrialLog`);
* ``searcher.json`` - the searcher's state, replaced atomically after every ask and tell;
* ``optuna.db`` - the optuna study, for the tpe / gp / nsga2 searchers.

:func:`load` reads ``trials.parquet`` when it is intact and the journal lines after its offset
(so the table is complete while a search writes, and after a kill), and falls back to the journal
alone when the table is unreadable. Rows that are torn or hand-edited into nonsense are skipped,
never fatal: a warning counts them and ``df.attrs["skipped"]`` lists each with its reason.
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
from nas.schema import FINAL_STATUSES, STATUSES, USABLE_STATUSES

__all__ = [
    "COLUMNS", "STATUSES", "USABLE_STATUSES", "FINAL_STATUSES", "TrialLog", "load", "best", "pareto_front", "trained",
    "write_json_atomic", "write_bytes_atomic", "read_json", "clean_row",
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


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data``, atomically (a reader sees the old or the new file)."""
    _replace_atomically(Path(path), lambda tmp: Path(tmp).write_bytes(data))


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
    """The trials of one run folder: durable O(1) appends to the journal, a parquet snapshot now and then.

    Every :meth:`append` writes one journal line (one ``write`` to a file opened for appending,
    then fsync): its cost does not depend on how many trials came before. ``trials.parquet`` is a
    snapshot of the journal up to a byte offset it records in its metadata; it is rewritten when
    ``snapshot_every`` rows or ``snapshot_seconds`` seconds have accumulated since the last one
    (whichever comes first, but never more often than keeps its writing under ``max_share`` of the
    time - a huge table is rewritten less often; None: no such cap), and by :meth:`close`. A rewrite converts only the
    new rows; the rows already in the snapshot are carried over by pyarrow, never touched in Python.

    Opening an existing folder reads its rows back (see :func:`load`) and cuts a torn last journal
    line (a write interrupted by a kill: that trial never finished durably). :attr:`rows` holds one
    row per finished trial, in the order they were recorded, without ``arch_json`` (it stays on
    disk: memory does not grow with the architectures); :attr:`interrupted` the provisional rows of
    trials that were running when the search stopped (``status="interrupted"``), which the trial's
    final row replaces when a resume runs it again.
    """

    def __init__(self, run_dir: str | Path, *, snapshot_every: int = 1000, snapshot_seconds: float = 60.0,
                 max_share: float | None = 0.1) -> None:
        if not (isinstance(snapshot_every, int) and snapshot_every >= 1):
            raise ValueError(f"snapshot_every must be an int >= 1, got {snapshot_every!r}")
        if not (_number(snapshot_seconds) and snapshot_seconds >= 0):
            raise ValueError(f"snapshot_seconds must be a number >= 0, got {snapshot_seconds!r}")
        if max_share is not None and not (_number(max_share) and 0 < max_share <= 1):
            raise ValueError(f"max_share must be in (0, 1] or None (no cap), got {max_share!r}")
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.journal = self.run_dir / JOURNAL
        self.table = self.run_dir / TABLE
        self.snapshot_every = snapshot_every
        self.snapshot_seconds = float(snapshot_seconds)
        self.max_share = None if max_share is None else float(max_share)
        self._cut_torn_tail()
        folder = _read_folder(self.run_dir)
        self.skipped: list[dict[str, Any]] = folder.skipped
        self.rows: list[dict[str, Any]] = []
        self.interrupted: dict[int, dict[str, Any]] = {}
        self._final_ids: set[int] = set()
        for r in folder.rows:  # resolved: one row per trial, by trial id
            self._keep(r)
        # the snapshot's rows stay in the file; journal rows after its offset go into the next one
        self._tail: list[dict[str, Any]] = folder.tail
        self._snapshot_bytes = folder.snapshot_bytes  # journal bytes the snapshot covers (0: none usable)
        self._journal_bytes = self.journal.stat().st_size if self.journal.exists() else 0
        self._fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._last_snapshot = time.monotonic()
        self._snapshot_cost = 0.0
        self.snapshots = 0  # snapshots written by this log (for benchmarks and tests)

    def _cut_torn_tail(self) -> None:
        if not self.journal.exists():
            return
        with open(self.journal, "rb+") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return
            # find the last newline, reading backwards in blocks (a journal can be large)
            pos, cut = size, 0
            while pos > 0:
                step = min(1 << 16, pos)
                pos -= step
                f.seek(pos)
                block = f.read(step)
                i = block.rfind(b"\n")
                if i >= 0:
                    cut = pos + i + 1
                    break
            f.truncate(cut)
            f.flush()
            os.fsync(f.fileno())

    def _keep(self, clean: dict[str, Any]) -> None:
        light = {k: v for k, v in clean.items() if k != "arch_json"}
        tid = clean["trial_id"]
        if clean["status"] == "interrupted":
            self.interrupted[tid] = light
        else:
            self.rows.append(light)
            self._final_ids.add(tid)
            self.interrupted.pop(tid, None)

    @property
    def trial_ids(self) -> set[int]:
        """Ids of the trials recorded for good so far (interrupted ones not included)."""
        return set(self._final_ids)

    def append(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Record a trial durably (one journal line, fsync); now and then refresh the snapshot.

        A row of status ``interrupted`` is provisional: the trial's next row replaces it. Raises
        ValueError for a row that would not load back (bad types) or a trial already recorded for
        good.
        """
        clean, why = clean_row(row)
        if clean is None:
            raise ValueError(f"trial row not recorded: {why}")
        if clean["trial_id"] in self._final_ids:
            raise ValueError(f"trial {clean['trial_id']} is already recorded in {self.journal}")
        data = (json.dumps(clean, allow_nan=False, separators=(",", ":")) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:  # one write for any sane line; the loop only guards against short writes
            view = view[os.write(self._fd, view):]
        os.fsync(self._fd)
        self._journal_bytes += len(data)
        self._keep(clean)
        self._tail.append(clean)
        self._maybe_snapshot()
        return clean

    def _maybe_snapshot(self) -> None:
        since = time.monotonic() - self._last_snapshot
        due = len(self._tail) >= self.snapshot_every or since >= self.snapshot_seconds
        if due and (self.max_share is None or since * self.max_share >= self._snapshot_cost):
            self.snapshot()

    def snapshot(self) -> None:
        """Rewrite ``trials.parquet`` (atomically) to cover the whole journal now."""
        if not self._tail and self._snapshot_bytes == self._journal_bytes and self.table.exists():
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        started = time.monotonic()
        table = None
        if self._snapshot_bytes > 0:
            try:
                old = _read_parquet(self.table)
                if _snapshot_offset(old) == self._snapshot_bytes and old.schema.equals(_arrow_schema()):
                    table = pa.concat_tables([old.replace_schema_metadata(None), _to_arrow(self._tail)])
            except Exception:  # the old snapshot went missing or bad: rebuild it from the journal
                table = None
        if table is None:
            rows, _, _ = _read_journal(self.journal, 0, self._journal_bytes)
            table = _to_arrow(rows)
        table = table.replace_schema_metadata({SNAPSHOT_OFFSET: str(self._journal_bytes).encode()})
        _replace_atomically(self.table, lambda tmp: pq.write_table(table, tmp))
        self._snapshot_bytes = self._journal_bytes
        self._tail = []
        self.snapshots += 1
        self._last_snapshot = time.monotonic()
        self._snapshot_cost = self._last_snapshot - started

    def flush(self) -> None:
        """Bring the snapshot up to date now (same as :meth:`snapshot`)."""
        self.snapshot()

    def close(self) -> None:
        """Bring the snapshot up to date and close the journal."""
        try:
            self.snapshot()
        finally:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __del__(self) -> None:
        fd = getattr(self, "_fd", -1)
        if fd >= 0:
            os.close(fd)


# ------------------------------------------------------------------ tables

#: Parquet metadata key: how many bytes of the journal the snapshot holds (as decimal text).
SNAPSHOT_OFFSET = b"nas.journal_bytes"


def _arrow_schema() -> Any:
    import pyarrow as pa

    types = {"id": pa.int64(), "str": pa.string(), "status": pa.string(), "hash": pa.string(),
             "list": pa.string(), "dict": pa.string(), "count": pa.int64(), "ref": pa.int64(),
             "fraction": pa.float64(),
             "fractions": pa.list_(pa.float64()), "float": pa.float64(), "time": pa.timestamp("us", tz="UTC")}
    return pa.schema([(col, types[kind]) for col, kind in schema.COLUMNS.items()])


def _to_arrow(rows: list[dict[str, Any]]) -> Any:
    """The rows (clean, in journal order) as an Arrow table of the run-folder schema."""
    import datetime as dt

    import pyarrow as pa

    cols: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for r in rows:
        for col, kind in schema.COLUMNS.items():
            v = r.get(col)
            if kind in ("list", "dict"):
                v = json.dumps(v)
            elif kind == "time" and v is not None:
                v = dt.datetime.fromtimestamp(v, tz=dt.timezone.utc)
            cols[col].append(v)
    return pa.Table.from_pydict(cols, schema=_arrow_schema())


def _read_parquet(path: Path) -> Any:
    """The table in ``path``, read through one open file: a snapshot replaced meanwhile (renamed
    over) cannot mix into the read, as it can when pyarrow opens the path more than once."""
    import pyarrow.parquet as pq

    with open(path, "rb") as f:
        return pq.read_table(f)


def _snapshot_offset(table: Any) -> int | None:
    """The journal offset a snapshot records, or None (an older table, written before snapshots)."""
    meta = table.schema.metadata or {}
    try:
        return int(meta[SNAPSHOT_OFFSET])
    except (KeyError, ValueError):
        return None


def _utc(seconds: float) -> Any:
    """Seconds since the epoch as a UTC datetime, rounded to the microsecond (as Arrow stores it)."""
    import datetime as dt

    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)


def _rows_from_table(table: Any) -> list[dict[str, Any]]:
    import datetime as dt

    rows = table.to_pylist()
    for r in rows:
        for col in ("start_time", "end_time"):
            if isinstance(r.get(col), dt.datetime):
                r[col] = r[col].timestamp()
    return rows


def _read_journal(path: Path, start: int = 0, end: int | None = None
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Clean rows of the journal's complete lines between byte ``start`` and ``end`` (the end of
    the file), what was skipped, and the offset after the last complete line. An unterminated last
    line is a write in progress (or one a kill cut short): it is listed as skipped, not read."""
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read() if end is None else f.read(max(0, end - start))
    complete = data.rfind(b"\n") + 1
    lines = data[:complete].split(b"\n")[:-1]
    for i, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        # line numbers count from the start of the file, or from the snapshot's offset
        where = {"source": JOURNAL, "line": i} if start == 0 else {"source": JOURNAL, "line_after_offset": i,
                                                                      "offset": start}
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            skipped.append({**where, "reason": "not valid JSON"})
            continue
        if not isinstance(obj, dict):
            skipped.append({**where, "reason": "not a JSON object"})
            continue
        clean, why = clean_row(obj)
        if clean is None:
            skipped.append({**where, "reason": why})
        else:
            rows.append(clean)
    if data[complete:].strip():
        skipped.append({"source": JOURNAL, "offset": start + complete,
                        "reason": "torn last line (a write in progress, or interrupted by a kill)"})
    return rows, skipped, start + complete


class _Folder:
    """What a run folder holds: resolved rows, skipped entries, the snapshot's offset and the
    journal rows after it."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.skipped: list[dict[str, Any]] = []
        self.snapshot_bytes = 0
        self.tail: list[dict[str, Any]] = []


def _resolve(rows: Iterable[dict[str, Any]], skipped: list[dict[str, Any]], source: str
             ) -> dict[int, dict[str, Any]]:
    """One row per trial from rows in the order they were recorded: a trial's final row, else its
    latest ``interrupted`` one; a second final row of a trial is skipped as a repeat."""
    out: dict[int, dict[str, Any]] = {}
    for r in rows:
        tid = r["trial_id"]
        before = out.get(tid)
        if before is None or before["status"] == "interrupted":
            out[tid] = r
        elif r["status"] != "interrupted":
            skipped.append({"source": source, "trial_id": tid, "reason": "repeated trial_id"})
    return out


def _read_folder(run_dir: Path) -> _Folder:
    """Read a run folder: the snapshot (if intact), then the journal from the offset it covers.

    The snapshot is read first and names its offset, so a writer appending or replacing the
    snapshot meanwhile never makes a reader miss or double a row. A table written before
    snapshots recorded offsets is merged the old way (its rows, then journal rows it lacks)."""
    table_path, journal = run_dir / TABLE, run_dir / JOURNAL
    out = _Folder()
    table_rows: list[dict[str, Any]] = []
    offset: int | None = None
    have_table = False
    if table_path.exists():
        import pyarrow.parquet as pq

        try:
            table = _read_parquet(table_path)
        except Exception as exc:  # any pyarrow error means an unreadable table
            out.skipped.append({"source": TABLE, "reason": f"unreadable, using the journal: {type(exc).__name__}: {exc}"})
        else:
            have_table = True
            offset = _snapshot_offset(table)
            for i, r in enumerate(_rows_from_table(table)):
                clean, why = clean_row(r)
                if clean is None:
                    out.skipped.append({"source": TABLE, "row": i, "reason": why})
                else:
                    table_rows.append(clean)
    journal_size = journal.stat().st_size if journal.exists() else 0
    if have_table and offset is not None and offset <= journal_size:
        tail, skipped, _ = _read_journal(journal, offset) if journal.exists() else ([], [], 0)
        out.skipped += skipped
        resolved = _resolve([*table_rows, *tail], out.skipped, JOURNAL)
        out.snapshot_bytes, out.tail = offset, tail
    else:
        j_rows, skipped, _ = _read_journal(journal) if journal.exists() else ([], [], 0)
        out.skipped += skipped
        if have_table:  # an older table: its rows, then the journal rows it lacks
            resolved = _resolve(table_rows, out.skipped, TABLE)
            for r in j_rows:
                if r["trial_id"] not in resolved or (resolved[r["trial_id"]]["status"] == "interrupted"
                                                     and r["status"] != "interrupted"):
                    resolved[r["trial_id"]] = r
        else:
            resolved = _resolve(j_rows, out.skipped, JOURNAL)
        out.tail = j_rows  # the next snapshot is rebuilt from the journal
    out.rows = [resolved[t] for t in sorted(resolved)]
    return out


def _read_rows(run_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One intact row per trial (by trial id) and what was skipped."""
    folder = _read_folder(run_dir)
    return folder.rows, folder.skipped


def load(run_dir: str | Path, warn: bool = True) -> Any:
    """The trials of a run folder as a ``pandas.DataFrame`` (one row per trial, by trial_id).

    Reads the parquet snapshot and the journal lines after it, so a table is complete even while
    a search is writing it (a reader never sees a torn table: the snapshot is replaced atomically,
    the journal only grows, and a line still being written is left for the next read). A trial
    that was running when its search stopped shows its ``interrupted`` row until a resume records
    its final one. ``mutations`` are lists of dicts, ``info`` dicts, ``start_time`` / ``end_time``
    UTC timestamps. Torn or hand-edited rows are skipped: with ``warn`` a warning says how many
    and why (a last line still being written is not warned about), and ``df.attrs["skipped"]``
    always lists them. FileNotFoundError when the folder holds no trials file at all.
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
        elif kind == "time":  # to the microsecond, as the snapshot stores them, whichever file a row came from
            df[col] = pd.to_datetime([None if v is None or v != v else _utc(v) for v in df[col]],
                                     utc=True).astype("datetime64[ns, UTC]")
    df.attrs["skipped"] = skipped
    df.attrs["run_dir"] = str(run_dir)
    worth = [s for s in skipped if not s["reason"].startswith("torn last line")]
    if worth and warn:
        reasons = sorted({s["reason"].split(" (got")[0] for s in worth})
        warnings.warn(f"{run_dir}: skipped {len(worth)} unreadable row(s) or file(s): {'; '.join(reasons)[:500]} "
                      f"(details in df.attrs['skipped'])", stacklevel=2)
    return df


# ------------------------------------------------------------------ analysis helpers


def trained(df: Any) -> Any:
    """The rows that were trained here: cached rows (a repeat of an architecture already trained in
    the run, ``cached_from`` set) left out, so each architecture appears once."""
    rows = df[df["cached_from"].isna()] if "cached_from" in df.columns else df
    return rows.drop_duplicates("arch_hash", keep="first") if "arch_hash" in rows.columns else rows


def best(df: Any, n: int = 5, by: str = "val_acc") -> Any:
    """The ``n`` usable trials with the highest ``by``, each architecture once."""
    rows = trained(df)
    ok = rows[rows["status"].isin(USABLE_STATUSES) & rows[by].notna()]
    return ok.sort_values([by, "macs"], ascending=[False, True], kind="stable").head(n)


def pareto_front(df: Any, accuracy: str = "val_acc", cost: str = "macs") -> Any:
    """Trials not dominated on (``accuracy`` up, ``cost`` down), cheapest first, each architecture
    and each point once: ``nas.pareto.front`` of :func:`trained` rows with ``ties="first"``
    (``nas.pareto`` takes any number of objectives)."""
    from nas import pareto

    return pareto.front(trained(df), [accuracy], [cost], ties="first")
