"""The ``maestro`` command: start a robot's graph and, as they land, run tasks and tools."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from maestro_tools.common.errors import MaestroError


def _launch(args: argparse.Namespace) -> int:
    from maestro_agent.bringup import launcher

    if args.show_args:
        print(launcher.describe_arguments(launcher.spec_for(args.robot)))
        return 0
    return launcher.launch(args.robot, args.arguments, dry_run=args.dry_run)


def _scenes(args: argparse.Namespace) -> int:
    from maestro_tools.sim.snapshots import write_snapshots

    cameras = args.camera or ["scene"]
    for path in write_snapshots(args.out, args.task or None, args.seed, args.perturbation, cameras):
        print(path)
    return 0


def _description(args: argparse.Namespace) -> int:
    from maestro_tools.robots import get_robot
    from maestro_tools.robots.description import robot_description

    print(robot_description(get_robot(args.robot)), end="")
    return 0


def _run(args: argparse.Namespace) -> int:
    from maestro_agent.run_client import RunOptions, run

    options = RunOptions(
        instruction=args.instruction,
        max_substeps=args.max_substeps,
        trials=args.trials,
        namespace=args.namespace,
        task=args.task or "",
        seed=args.seed,
        perturbation=args.perturbation,
    )
    return run(options)


def _default_store() -> Path:
    return Path(os.environ.get("MAESTRO_TRACE_DIR", "~/.maestro/traces")).expanduser()


def _dashboard(args: argparse.Namespace) -> int:
    from maestro_agent.traces.dashboard import serve

    serve(args.store, args.host, args.port)
    return 0


def _analytics(args: argparse.Namespace) -> int:
    from maestro_agent.traces import analytics

    vla = None if args.vla is None else args.vla == "yes"
    result = analytics.load(args.store, args.task_type or "", vla)
    print(analytics.format_tables(result), end="")
    if args.csv:
        print(f"wrote {analytics.write_csv(result, args.csv)}")
    if args.png:
        print(f"wrote {analytics.write_png(result, args.png)}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from maestro_agent.evaluation.run import run_sweep

    return run_sweep(
        args.spec,
        args.out or Path("eval") / args.spec.stem,
        args.workers,
        args.resume,
        args.domain_base,
        executor=args.executor,
        ray_address=args.ray_address,
        seeds=args.seeds,
    )


def _report(args: argparse.Namespace) -> int:
    from maestro_agent.evaluation.report import write_report

    for path in write_report(args.results, args.out, args.store, args.backend):
        print(f"wrote {path}")
    return 0


def _register_eval(commands: argparse._SubParsersAction) -> None:
    sweep = commands.add_parser(
        "eval",
        help="run a sweep of simulated trials (tasks x axes x seeds x configurations) from a YAML spec",
        description="Expand SPEC (config/eval/*.yaml) into trials, run them on local graphs (one per worker, "
        "each in its own ROS domain) and append each trial to OUT/results.jsonl as it ends. Exit status: 0 "
        "every trial ran, 1 infrastructure failures left (rerun with --resume), 2 error, 130 interrupted.",
    )
    sweep.add_argument("spec", type=Path, help="sweep spec, e.g. config/eval/ci.yaml")
    sweep.add_argument("--out", type=Path, help="output folder (default: ./eval/<spec name>)")
    sweep.add_argument(
        "--workers", type=int, default=0, help="graphs at once (default: by cores and free memory)"
    )
    sweep.add_argument("--resume", action="store_true", help="skip the trials OUT/results.jsonl already has")
    sweep.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        help="run only these of the spec's seeds (LIBERO: initial states): a long sweep a part at a time, "
        "into the same OUT with --resume",
    )
    sweep.add_argument(
        "--domain-base",
        type=int,
        help="first worker's ROS_DOMAIN_ID, then +1 per worker (default: $ROS_DOMAIN_ID)",
    )
    sweep.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: worker processes on this machine; ray: one Ray task per batch (`make setup-ray`)",
    )
    sweep.add_argument(
        "--ray-address",
        default="",
        help="--executor ray: the cluster to connect to (default: a private Ray on 127.0.0.1)",
    )
    sweep.set_defaults(handler=_eval)

    report = commands.add_parser(
        "report",
        help="summarise a sweep's results: tables, the per-trial figure, HTML with PNG/CSV/JSON exports",
        description="Mean progress with standard deviation and success rate per task x axis x configuration, "
        "time, substeps, replans and tokens per trial; written to OUT (default: RESULTS_DIR/report).",
    )
    report.add_argument("results", type=Path, help="a sweep's out folder or its results.jsonl")
    report.add_argument("--out", type=Path, help="report folder (default: next to the results, report/)")
    report.add_argument(
        "--store", type=Path, help="trace store with the trials' tokens (default: RESULTS_DIR/traces)"
    )
    report.add_argument(
        "--backend", choices=("auto", "matplotlib", "opencv"), default="auto", help="figure renderer"
    )
    report.set_defaults(handler=_report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maestro", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    launch = commands.add_parser(
        "launch",
        help="start a robot's ROS 2 graph as supervised processes (replaces 'ros2 launch' without ROS)",
        description="Start the bringup of ROBOT (config/bringup/ROBOT.yaml). Arguments are name:=value.",
    )
    launch.add_argument("robot", help="robot bringup to start, e.g. franka or go2w_piper")
    launch.add_argument("arguments", nargs="*", metavar="name:=value", help="launch argument overrides")
    launch.add_argument("--dry-run", action="store_true", help="print the resolved command lines and exit")
    launch.add_argument("--show-args", action="store_true", help="list the launch arguments and exit")
    launch.set_defaults(handler=_launch)

    run = commands.add_parser(
        "run",
        help="send a task to the running agent and show its progress",
        description="Send INSTRUCTION to the agent's run_task action, print live progress and the result. "
        "Ctrl-C cancels the task. Exit status: 0 success, 1 failed, 2 error.",
    )
    run.add_argument(
        "instruction",
        nargs="?",
        default="",
        help='what the robot should do, e.g. "put the tennis ball into the bowl" (with --task: default the '
        "scene's own instruction)",
    )
    run.add_argument("--max-substeps", type=int, default=0, help="substep budget (default: the agent's)")
    run.add_argument("--trials", type=int, default=1, help=">1: self-evolution across trials (default: 1)")
    run.add_argument("--namespace", default="/maestro", help="the graph's namespace (default: /maestro)")
    run.add_argument("--task", help="simulation: reset the scene to this task first (e.g. clean_table)")
    run.add_argument("--seed", type=int, default=0, help="simulation: scene seed for --task (default: 0)")
    run.add_argument("--perturbation", default="", help="simulation: perturbation for --task")
    run.set_defaults(handler=_run)

    scenes = commands.add_parser(
        "scenes",
        help="write a PNG of each simulated task scene's camera image",
        description="Reset each task (or the --task ones) and write its camera images as PNG files.",
    )
    scenes.add_argument("--out", type=Path, default=Path("scenes"), help="output folder (default: ./scenes)")
    scenes.add_argument("--task", action="append", help="task to render (repeatable; default: all)")
    scenes.add_argument("--seed", type=int, default=0, help="scene seed (default: 0)")
    scenes.add_argument(
        "--perturbation", default="none", help="none | visual | pose | new_object | language (default: none)"
    )
    scenes.add_argument(
        "--camera", action="append", choices=("scene", "wrist"), help="camera (repeatable; default: scene)"
    )
    scenes.set_defaults(handler=_scenes)

    description = commands.add_parser(
        "description",
        help="print a robot's URDF (generated from its MJCF) for robot_state_publisher and RViz",
        description="Print ROBOT's URDF, e.g. maestro description franka > franka.urdf",
    )
    description.add_argument("robot", help="robot profile, e.g. franka")
    description.set_defaults(handler=_description)

    store_help = "trace store folder (default: $MAESTRO_TRACE_DIR or ~/.maestro/traces)"
    dashboard = commands.add_parser(
        "dashboard",
        help="serve the trace dashboard: trial list, replay, live follow, analytics",
        description="Serve a web dashboard over the trace store (read-only; safe while an agent records).",
    )
    dashboard.add_argument("--store", type=Path, default=_default_store(), help=store_help)
    dashboard.add_argument("--port", type=int, default=8765, help="port (default: 8765)")
    dashboard.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    dashboard.set_defaults(handler=_dashboard)

    stats = commands.add_parser(
        "analytics",
        help="print which tools the generated code called and in what order (tables, CSV, PNG)",
        description="Aggregate the depth-0 tool calls of the recorded trials: calls per module, function and "
        "category, module transitions and top function bigrams, per-trial summaries.",
    )
    stats.add_argument("--store", type=Path, default=_default_store(), help=store_help)
    stats.add_argument("--task-type", help="only trials of this task type")
    stats.add_argument("--vla", choices=("yes", "no"), help="only trials that used (yes) or did not use VLA")
    stats.add_argument("--csv", type=Path, help="also write the tables to this CSV file")
    stats.add_argument("--png", type=Path, help="also write the heat map and bar charts to this PNG file")
    stats.set_defaults(handler=_analytics)
    from maestro_agent.data.cli import register as register_data
    from maestro_agent.traces.export_cli import register as register_export

    register_export(commands)
    register_data(commands)
    _register_eval(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # name:=value overrides may stand before or after the options; collect them wherever they are.
    args, extra = parser.parse_known_args(argv)
    overrides = [item for item in extra if ":=" in item]
    if extra and (len(overrides) != len(extra) or not hasattr(args, "arguments")):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if overrides:
        args.arguments = [*args.arguments, *overrides]
    try:
        return args.handler(args)
    except MaestroError as exc:
        print(f"maestro {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
