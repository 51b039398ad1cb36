"""``maestro data collect|amplify|export|verify``: the data engine (``register`` adds it)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from maestro_agent.traces.export_cli import STORE_HELP, _default_store

AXES = ("none", "visual", "pose", "new_object", "language")


def _collect(args: argparse.Namespace) -> int:
    from maestro_agent.data.collect import collect, sweep_settings, sweep_store

    store = args.store or sweep_store(args.sweep) or _default_store()
    paths = collect(store, args.out, sweep_settings(args.sweep), args.task, limit=args.limit)
    print(f"{len(paths)} demonstrations in {args.out}")
    return 0


def _amplify(args: argparse.Namespace) -> int:
    from maestro_agent.data.amplify import amplify_parallel
    from maestro_agent.data.collect import SceneSetting
    from maestro_tools.vla.warping import load_demonstrations

    demos = load_demonstrations(args.demos)
    files = sorted(args.demos.glob("*.npz")) if args.demos.is_dir() else [args.demos]
    task = args.task or demos[0].task
    first, count = args.seeds
    settings = [SceneSetting(task, seed, axis) for axis in args.axes for seed in range(first, first + count)]
    report = amplify_parallel(
        files, settings, args.out, args.workers, args.fps, not args.no_render, args.image_every
    )
    summary = report.to_json()
    summary.pop("episodes")
    print(json.dumps(summary, indent=2))
    return 0 if report.kept else 1


def _export(args: argparse.Namespace) -> int:
    from maestro_agent.data.dataset import export

    print(export(args.episodes, args.out, args.fps, video=not args.images_in_parquet))
    return 0


def _verify(args: argparse.Namespace) -> int:
    from maestro_agent.data.dataset import verify

    report = verify(args.dataset)
    print(report.summary(), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``data`` with its ``collect``, ``amplify``, ``export`` and ``verify`` subcommands."""
    data = commands.add_parser(
        "data",
        help="the data engine: demonstrations from traces, warped to new scenes, as a LeRobot dataset",
        description="collect -> amplify -> export -> verify. See maestro_agent/data/.",
    )
    steps = data.add_subparsers(dest="step", required=True, metavar="STEP")

    collect = steps.add_parser("collect", help="successful trials as demonstrations (.npz)")
    collect.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="folder for the demonstrations"
    )
    collect.add_argument(
        "--sweep",
        required=True,
        type=Path,
        metavar="RESULTS",
        help="the sweep that ran the trials: a `maestro eval` out folder or its results.jsonl, or a JSON "
        "with trials [trial_id, task, seed, axis] (bench/program_sweep.py)",
    )
    collect.add_argument("--task", default="", help="only trials of this task")
    collect.add_argument("--limit", type=int, default=0, help="at most this many (0 = all)")
    collect.add_argument(
        "--store", type=Path, default=None, help=STORE_HELP + "; default for an eval folder: its traces"
    )
    collect.set_defaults(handler=_collect)

    amplify = steps.add_parser("amplify", help="warp demonstrations to new scenes; keep successful replays")
    amplify.add_argument("demos", type=Path, help="a demonstration (.npz) or a folder of them")
    amplify.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for the episodes")
    amplify.add_argument("--task", default="", help="default: the demonstrations' task")
    amplify.add_argument(
        "--seeds",
        nargs=2,
        type=int,
        default=(1000, 20),
        metavar=("FIRST", "COUNT"),
        help="scene seeds FIRST..FIRST+COUNT-1 (default 1000 20)",
    )
    amplify.add_argument("--axes", nargs="+", default=["pose"], choices=AXES, help="perturbation axes")
    amplify.add_argument("--fps", type=int, default=10, help="joint states per second (default 10)")
    amplify.add_argument("--image-every", type=int, default=2, help="a camera frame every N states")
    amplify.add_argument("--workers", type=int, default=1, help="processes, each its own simulation")
    amplify.add_argument("--no-render", action="store_true", help="no camera frames (success rate only)")
    amplify.set_defaults(handler=_amplify)

    export = steps.add_parser("export", help="amplified episodes as a LeRobot (v2.1) dataset")
    export.add_argument("episodes", type=Path, help="the amplify output folder")
    export.add_argument("--out", required=True, type=Path, metavar="DIR", help="dataset folder to create")
    export.add_argument("--fps", type=int, default=10, help="frames per second (the amplify fps)")
    export.add_argument("--images-in-parquet", action="store_true", help="JPEG bytes in Parquet, not mp4")
    export.set_defaults(handler=_export)

    verify = steps.add_parser("verify", help="read a LeRobot dataset back and check every episode")
    verify.add_argument("dataset", type=Path)
    verify.set_defaults(handler=_verify)
