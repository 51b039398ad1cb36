"""``maestro export rosbag|lerobot``: the trace store's exports as CLI commands (``register`` adds them)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

STORE_HELP = "trace store folder (default: $MAESTRO_TRACE_DIR or ~/.maestro/traces)"


def _default_store() -> Path:
    return Path(os.environ.get("MAESTRO_TRACE_DIR", "~/.maestro/traces")).expanduser()


def _rosbag(args: argparse.Namespace) -> int:
    from maestro_agent.traces.export import export_rosbag

    print(export_rosbag(args.store, args.trial, args.out))
    return 0


def _lerobot(args: argparse.Namespace) -> int:
    from maestro_agent.traces.lerobot_export import export_lerobot

    print(
        export_lerobot(args.store, args.out, args.trial or None, args.fps, video=not args.images_in_parquet)
    )
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``export`` with its ``rosbag`` and ``lerobot`` subcommands to the ``maestro`` command."""
    export = commands.add_parser(
        "export",
        help="export recorded trials: one as a rosbag2 (MCAP), successful ones as a LeRobot dataset",
        description="Export from the trace store. Each export writes a new folder and prints its path.",
    )
    formats = export.add_subparsers(dest="format", required=True, metavar="FORMAT")

    rosbag = formats.add_parser(
        "rosbag",
        help="one trial's joint states, VLM images and trace events as a rosbag2 (MCAP storage)",
        description="Write trial ID as a rosbag2 folder (MCAP): /maestro/joint_states, "
        "/maestro/vlm_images/compressed and /maestro/trace (maestro_msgs/TraceEvent).",
    )
    rosbag.add_argument("--trial", required=True, metavar="ID", help="the trial's id")
    rosbag.add_argument("--out", required=True, type=Path, metavar="DIR", help="bag folder to create")
    rosbag.add_argument("--store", type=Path, default=_default_store(), help=STORE_HELP)
    rosbag.set_defaults(handler=_rosbag)

    lerobot = formats.add_parser(
        "lerobot",
        help="trials' joint trajectories and scene images as a LeRobot (v2.1) dataset",
        description="Write the successful trials (or the --trial ones) as a LeRobot dataset: joint states "
        "resampled to --fps, action = the next frame's joint positions, the scene camera as mp4 video.",
    )
    lerobot.add_argument("--out", required=True, type=Path, metavar="DIR", help="dataset folder to create")
    lerobot.add_argument("--store", type=Path, default=_default_store(), help=STORE_HELP)
    lerobot.add_argument(
        "--trial",
        action="extend",
        nargs="+",
        metavar="ID",
        help="trial(s) to export (repeatable; default: all successful ones)",
    )
    lerobot.add_argument("--fps", type=int, default=10, help="frames per second (default: 10)")
    lerobot.add_argument(
        "--images-in-parquet",
        action="store_true",
        help="store the recorded JPEG images in the Parquet rows instead of mp4 videos",
    )
    lerobot.set_defaults(handler=_lerobot)
