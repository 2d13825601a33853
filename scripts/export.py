#!/usr/bin/env python3
"""Export an architecture of a run folder as a standalone PyTorch model (model.py + weights + ONNX).

Examples::

    python scripts/export.py results/<run_id> --out exported/best                 # best val accuracy
    python scripts/export.py results/<run_id> --under-macs 5M --out exported/small
    python scripts/export.py results/<run_id> --trial 17 --retrain-epochs 30 --out exported/t17
    python scripts/export.py results/<run_id> --trial 17 --weights my_weights.pt --out exported/t17

Run folders keep architectures and scores, not weights: without --weights the chosen architecture
is trained again, exactly as the search trained it (data, epochs, seed and trainer settings from
the run's config.json), or from scratch for --retrain-epochs N; validation and test accuracy are
reported and written to the folder's README.md. The folder holds model.py (imports torch only),
weights.safetensors, weights.pt, arch.json, model.onnx (with the [export] extra), arch.svg,
README.md and manifest.json. Bad input (no such run folder or trial, an existing --out folder
without --force) prints one line and exits with status 2; a failed training or check exits 1.
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any


from nas import cli  # noqa: E402

PROG = "export.py"


def build_parser() -> cli.ArgumentParser:
    ap = cli.ArgumentParser(prog=PROG, description=__doc__)
    ap.add_argument("run_dir", metavar="RUN_DIR", help="a run folder, results/<run_id>")
    pick = ap.add_mutually_exclusive_group()
    pick.add_argument("--trial", type=int, default=None, metavar="ID", help="export this trial id")
    pick.add_argument("--best", action="store_true",
                      help="export the searched trial with the best validation accuracy (what happens when no "
                           "--trial is given)")
    ap.add_argument("--under-macs", type=cli.count, default=None, metavar="X",
                    help="best validation accuracy among trials with at most X MACs (5M, 300k...)")
    ap.add_argument("--under-params", type=cli.count, default=None, metavar="X",
                    help="best validation accuracy among trials with at most X parameters")
    ap.add_argument("--out", required=True, metavar="DIR", help="the export folder to write")
    ap.add_argument("--force", action="store_true", help="write into an existing --out folder (replacing our files)")
    ap.add_argument("--retrain-epochs", type=cli.positive_float, default=None, metavar="N",
                    help="train from scratch for N epochs (fractions allowed) instead of repeating the search's "
                         "training")
    ap.add_argument("--weights", default=None, metavar="FILE",
                    help="use these weights (a state_dict of nas.compile(arch): .pt or .safetensors) instead of "
                         "training")
    ap.add_argument("--data", default=None, metavar="SOURCE",
                    help="the dataset, when the run's config.json does not name it or it moved (same forms as "
                         "search.py --dataset)")
    ap.add_argument("--seed", type=cli.nonneg_int, default=None, help="training seed (default: the trial's own)")
    ap.add_argument("--device", type=cli.device, default=None, help="cpu or cuda (default: cuda when available)")
    ap.add_argument("--no-onnx", action="store_true", help="leave model.onnx out")
    ap.add_argument("--no-picture", action="store_true", help="leave arch.svg out")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    started = time.perf_counter()
    if args.trial is not None and (args.under_macs is not None or args.under_params is not None):
        ap.error("--trial picks one trial; --under-macs / --under-params pick the best within a budget: give one")
    if args.retrain_epochs is not None and args.weights is not None:
        ap.error("--weights exports those weights; --retrain-epochs trains new ones: give one")
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not args.force:
        ap.error(f"{out} exists{' and is not empty' if out.is_dir() else ''}; choose another --out or pass --force")

    import nas
    from nas.exporter import ExportError, export
    from nas.exporter.runs import RunError, accuracy, load_weights, open_run, select_trial, training_settings

    try:
        run = open_run(args.run_dir)
        row = select_trial(run, args.trial, args.under_macs, args.under_params)
        arch = nas.from_json(row["arch_json"])
        settings = training_settings(run, row)
    except (RunError, nas.GraphError) as exc:
        ap.error(str(exc))
    trial_id = int(row["trial_id"])
    recorded = row.get("val_acc")
    recorded = None if recorded is None or (isinstance(recorded, float) and math.isnan(recorded)) else float(recorded)
    cost = nas.count(arch)
    print(f"trial {trial_id} of {run.run_dir}: {arch.name or 'architecture'} ({cost.params:,} params, "
          f"{cost.macs:,} MACs), status {row['status']}"
          + (f", val acc {recorded:.4f} recorded" if recorded is not None else ""), flush=True)

    dataset = args.data or settings.get("dataset")
    epochs = args.retrain_epochs if args.retrain_epochs is not None else settings.get("epochs")
    if args.weights is None and epochs is None:
        ap.error(f"{run.run_dir} has no config.json saying how the search trained: give --retrain-epochs N "
                  f"(and --data SOURCE) or --weights FILE")
    if args.weights is None and dataset is None:
        ap.error(f"{run.run_dir} does not name its dataset: give --data SOURCE")

    data = None
    if dataset is not None:
        try:
            data = nas.data.load(dataset, seed=settings.get("data_seed", 0), **settings.get("data_options", {}))
        except (OSError, ValueError, KeyError) as exc:
            ap.error(f"cannot load the data {dataset!r}: {exc}; point --data at it")
        print(f"data: {data.summary()}", flush=True)
        if tuple(data.input_shape) != tuple(arch.input_shape) or data.num_classes != arch.num_classes:
            ap.error(f"the data gives {data.input_shape} images of {data.num_classes} classes, the architecture takes "
                      f"{tuple(arch.input_shape)} and {arch.num_classes}: give the --data it was searched on")

    seed = args.seed if args.seed is not None else settings.get("seed", 0)
    train_options = dict(settings.get("train_options", {}))
    metrics: dict[str, Any] = {"recorded_val_acc": recorded}
    training: dict[str, Any] = {}
    if args.weights is not None:
        try:
            state = load_weights(args.weights)
        except RunError as exc:
            ap.error(str(exc))
        model = nas.compile(arch)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            ap.error(f"{args.weights} does not fit trial {trial_id}'s architecture: {str(exc).splitlines()[0]}")
        if data is not None:
            metrics["val_acc"] = accuracy(model, data, "val")
            metrics["test_acc"] = accuracy(model, data, "test")
        training = {"weights": str(args.weights)}
    else:
        assert data is not None and epochs is not None
        how = ("from scratch" if args.retrain_epochs is not None else "as the search did")
        print(f"training {how}: {epochs:g} epoch(s), seed {seed}"
              + (f", {train_options}" if train_options else ""), flush=True)
        model = nas.compile(arch, seed=seed)
        if args.retrain_epochs is None and not _on_cuda(args.device):
            import torch

            torch.set_num_threads(settings.get("threads", torch.get_num_threads()))  # the trial's: same weights
        result = _train(model, data, epochs, seed, args.device, train_options)
        if result["status"] != "ok":
            print(f"{PROG}: error: training failed: {result['error']}", file=sys.stderr)
            return 1
        model = model.to("cpu").float()
        metrics.update(val_acc=result["val_acc"], test_acc=result["test_acc"], epochs=result["epochs"],
                       train_seconds=round(result["train_seconds"], 2), device=result["device"])
        training = {"epochs": epochs, "seed": seed, "retrained": args.retrain_epochs is not None,
                    "batch_size": result["batch_size"], "lr": result["lr"], **train_options}
        if args.retrain_epochs is None and recorded is not None and result["val_acc"] is not None:
            same = abs(result["val_acc"] - recorded) < 1e-9
            differs = ": GPU runs, and runs on other hardware, are not bit-for-bit repeatable"
            print(f"val acc {result['val_acc']:.4f} ({'the same as' if same else 'the search recorded'} "
                  f"{recorded:.4f}{'' if same else differs})", flush=True)

    origin = {"run_dir": str(run.run_dir), "trial_id": trial_id, "searcher": row.get("searcher"),
              "space": row.get("space"), "origin": row.get("origin"), "run_id": row.get("run_id")}
    origin = {k: v for k, v in origin.items() if v is not None and not (isinstance(v, float) and math.isnan(v))}
    try:
        res = export(arch, model.state_dict(), out, data=data, metrics=metrics, training=training, origin=origin,
                     onnx=not args.no_onnx, picture=not args.no_picture, force=args.force)
    except ExportError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    _summary(res, metrics, time.perf_counter() - started)
    return 0


def _on_cuda(device: str | None) -> bool:
    """Whether training runs on CUDA (``device``, or by default when a GPU is there)."""
    import torch

    return str(device).startswith("cuda") if device is not None else torch.cuda.is_available()


def _train(model: Any, data: Any, epochs: float, seed: int, device: str | None, options: dict[str, Any]
           ) -> dict[str, Any]:
    """nas.train with a tqdm bar showing each epoch's validation accuracy and the best so far."""
    from tqdm import tqdm

    import nas

    bar = tqdm(total=math.ceil(epochs), unit="epoch", desc="training", file=sys.stderr, dynamic_ncols=True)
    best = [-1.0]

    def on_epoch(i: int, m: dict[str, Any]) -> None:
        val = m.get("val_acc")
        if val is not None:
            best[0] = max(best[0], val)
        bar.set_postfix(val=f"{val:.4f}" if val is not None else "n/a", best=f"{best[0]:.4f}",
                        loss=f"{m.get('train_loss', float('nan')):.3f}")
        bar.update(1)

    try:
        return nas.train(model, data, epochs=epochs, seed=seed, device=device, on_epoch=on_epoch, test=True,
                         **options)
    finally:
        bar.close()


def _pct(v: Any) -> str:
    return f"{100 * v:.2f}%" if isinstance(v, (int, float)) else "-"


def _summary(res: Any, metrics: dict[str, Any], seconds: float) -> None:
    onnx = (f"checked in onnxruntime (max |diff| {res.onnx.max_abs_diff:.2g})" if res.onnx.ok
            else (res.onnx.skipped or res.onnx.error))
    rows = [("architecture", f"{res.class_name} ({res.arch_hash})"),
            ("params / MACs", f"{res.params:,} / {res.macs:,}"),
            ("val / test accuracy", f"{_pct(metrics.get('val_acc'))} / {_pct(metrics.get('test_acc'))}"),
            ("model.py vs nas.compile", f"max |diff| {res.max_abs_diff:.2g}"),
            ("model.onnx", onnx),
            ("export time", f"{res.seconds['total']:.2f} s (" + ", ".join(
                f"{k} {v:.2f}" for k, v in res.seconds.items() if k != "total") + ")"),
            ("total time", f"{seconds:.1f} s"),
            ("folder", str(res.out_dir))]
    width = max(len(k) for k, _ in rows)
    print()
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    for name, path in res.files.items():
        print(f"  {'':<{width}}  {path}")
    for note in res.notes:
        print(f"  note: {note}")
    print(f"\nload it: cd {res.out_dir} && python -c \"from model import build_model; "
          f"print(build_model())\"")


if __name__ == "__main__":
    cli.run_main(main)
