"""Amplify demonstrations: warp each to new scenes of its task, replay in simulation, keep what succeeds.

For every (demonstration, scene) pair the in-process ``SimWorld`` is reset to the scene, the objects are
located from the scene camera (``collect.correspondences``: the same camera-derived estimate the
demonstration's correspondences came from), the demonstration is warped (``vla.warping``) and
re-solved with the arm's IK, then replayed: the joint trajectory as position targets, the gripper
closed and opened at the demonstrated events. The task's progress rubric (privileged simulator state:
the verification side only) must reach 100 for the episode to be kept. Kept episodes are written as
``episodes/NNNNNN/episode.npz`` (frame times, joint states, instruction, scene) plus the scene camera's
frames at ``fps`` (``frames/NNNNNN.jpg``), which ``dataset.export`` turns into a LeRobot dataset.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from maestro_agent.data.collect import CAMERA, SceneSetting, correspondences
from maestro_tools.common.errors import InvalidArgumentError, MaestroError
from maestro_tools.motion.kinematics import ArmKinematics
from maestro_tools.robots.model import RobotModel
from maestro_tools.sim.control import validate_trajectory
from maestro_tools.sim.scene import CELL_SURFACES
from maestro_tools.sim.world import SimWorld
from maestro_tools.vla.warping import Demonstration, WarpedPlan, match_objects, plan, prepare

EPISODE_VERSION = 1
SETTLE_S = 1.5  # s simulated after the trajectory so the item comes to rest before scoring


@dataclass
class Replay:
    success: bool
    progress: float
    times: np.ndarray  # (frames,) s
    states: np.ndarray  # (frames, joints): arm joints + finger joints
    frames: list[Path]
    frame_times: list[float]  # s of each camera frame (every ``image_every``-th state frame)
    sim_seconds: float


@dataclass
class Report:
    tried: int = 0
    kept: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    episodes: list[dict[str, object]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.kept / self.tried if self.tried else 0.0

    def to_json(self) -> dict[str, object]:
        per_minute = self.tried / (self.seconds / 60.0) if self.seconds else 0.0
        return {
            **asdict(self),
            "rate": round(self.rate, 3),
            "tried_per_minute": round(per_minute, 2),
            "kept_per_minute": round(per_minute * self.rate, 2),
        }


def replay(
    world: SimWorld, warped: WarpedPlan, fps: int = 10, frames_dir: Path | None = None, image_every: int = 1
) -> Replay:
    """Run a solved plan in ``world`` (reset to its scene): joint states every 1/fps s, a scene camera
    frame with every ``image_every``-th of them (rendering is the costly part on a CPU)."""
    assert warped.joints is not None, "solve the plan first"
    t0 = world.time
    times = warped.times - warped.times[0]
    keep = np.concatenate([[False], np.diff(times) > 1e-4])  # the first row is where the arm starts
    trajectory = validate_trajectory(
        world.limits, world.arm.joints, list(times[keep]), list(warped.joints[keep])
    )
    world.start_trajectory(trajectory)
    switches = np.flatnonzero(np.diff(warped.closed.astype(int))) + 1
    events = [(float(times[k]), bool(warped.closed[k])) for k in switches]
    end = float(times[-1]) + SETTLE_S
    frame_times, states, frames, shown = [], [], [], []
    if frames_dir is not None:
        frames_dir.mkdir(parents=True, exist_ok=True)
    next_frame, period = 0.0, 1.0 / fps
    while True:
        now = world.time - t0
        if now >= next_frame - 1e-9:
            frame_times.append(next_frame)
            states.append(world.joint_state()[1])
            if frames_dir is not None and (len(states) - 1) % image_every == 0:
                shown.append(next_frame)
                rgb = world.render_cameras().rgb(world.data, CAMERA)
                path = frames_dir / f"{len(frames):06d}.jpg"
                cv2.imwrite(str(path), rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
                frames.append(path)
            next_frame += period
            if next_frame > end:
                break
        while events and events[0][0] <= now + 1e-9:
            _, closing = events.pop(0)
            world.set_gripper(0.0 if closing else world.gripper.max_width)
        target = min([next_frame, *(t for t, _ in events[:1])])
        world.step_for(max(world.model.opt.timestep, target - now))
    score = world.progress()[0]
    return Replay(
        score >= 100.0, score, np.asarray(frame_times), np.asarray(states), frames, shown, world.time - t0
    )


def write_episode(
    folder: Path, replay_: Replay, instruction: str, setting: SceneSetting, source: str
) -> None:
    meta = {
        "version": EPISODE_VERSION,
        "instruction": instruction,
        "setting": asdict(setting),
        "source": source,
        "progress": replay_.progress,
        "frames": [p.name for p in replay_.frames],
        "frame_times": replay_.frame_times,
    }
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "episode.npz", meta=json.dumps(meta), times=replay_.times, states=replay_.states)


def amplify(
    demos: Sequence[Demonstration],
    settings: Sequence[SceneSetting],
    out: Path | str,
    fps: int = 10,
    render: bool = True,
    progress: Callable[[str], None] | None = None,
    width: int = 320,  # the correspondences' camera too: at 160x120 a ball came out 1.5 cm off
    height: int = 240,
    image_every: int = 1,
    report_name: str = "amplify.json",
) -> Report:
    """Warp every demonstration to each of ``settings`` (all pairs: len(demos) x len(settings) tries)."""
    if not demos or not settings:
        raise InvalidArgumentError("amplify needs at least one demonstration and one scene setting")
    progress = progress or functools.partial(print, flush=True)
    out = Path(out)
    (out / "episodes").mkdir(parents=True, exist_ok=True)
    world = SimWorld(settings[0].task, settings[0].seed, settings[0].axis, width=width, height=height)
    kinematics = ArmKinematics(RobotModel(world.profile, CELL_SURFACES))
    report, started = Report(), time.monotonic()
    prepared = [prepare(demo, kinematics) for demo in demos]
    try:
        for (number, (demo, poses)), setting in ((p, s) for s in settings for p in enumerate(prepared)):
            report.tried += 1
            folder = out / "episodes" / f"{setting.task}-{setting.axis}-{setting.seed:06d}-{number:03d}"
            reason = ""
            try:
                world.reset(setting.task, setting.seed, setting.axis)
                objects = match_objects(demo, correspondences(world))
                warped = plan(demo, kinematics, objects, poses=poses)
                warped.solve(kinematics, world.arm_positions(), world.arm.max_joint_velocity * 0.6)
                result = replay(world, warped, fps, folder / "frames" if render else None, image_every)
                if result.success:
                    write_episode(folder, result, world.info.instruction, setting, demo.source)
                    report.kept += 1
                    report.episodes.append(
                        {
                            "episode": folder.name,
                            "setting": asdict(setting),
                            "demo": demo.source,
                            "frames": len(result.times),
                        }
                    )
                else:
                    reason = f"progress {result.progress:.0f}"
            except MaestroError as exc:
                reason = type(exc).__name__
            if reason:
                shutil.rmtree(folder, ignore_errors=True)
                key = reason if reason.startswith("progress") is False else "replay " + reason
                report.failures[key] = report.failures.get(key, 0) + 1
            report.seconds = time.monotonic() - started
            progress(
                f"[{report.tried}] {setting.task} {setting.axis} seed {setting.seed} from {demo.source}: "
                f"{reason or 'kept'} ({report.kept} kept, {report.seconds:.0f} s)"
            )
    finally:
        world.close()
        report.seconds = time.monotonic() - started
        (out / report_name).write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return report


def _part(args: tuple) -> dict[str, object]:
    demo_files, settings, out, fps, render, image_every, index = args
    demos = [Demonstration.load(f) for f in demo_files]
    report = amplify(
        demos, settings, out, fps, render, image_every=image_every, report_name=f"amplify-{index}.json"
    )
    return report.to_json()


def amplify_parallel(
    demo_files: Sequence[Path],
    settings: Sequence[SceneSetting],
    out: Path | str,
    workers: int = 1,
    fps: int = 10,
    render: bool = True,
    image_every: int = 1,
) -> Report:
    """``amplify`` with the settings dealt to ``workers`` processes (each its own world); one merged report
    (``amplify.json``). Seconds are wall time."""
    started = time.monotonic()
    parts = [
        (list(demo_files), list(settings[i::workers]), Path(out), fps, render, image_every, i)
        for i in range(workers)
        if settings[i::workers]
    ]
    with ProcessPoolExecutor(len(parts), mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(_part, parts))
    merged = Report()
    for part in results:
        merged.tried += int(part["tried"])  # type: ignore[call-overload]
        merged.kept += int(part["kept"])  # type: ignore[call-overload]
        merged.episodes.extend(part["episodes"])  # type: ignore[arg-type]
        for key, n in part["failures"].items():  # type: ignore[union-attr]
            merged.failures[key] = merged.failures.get(key, 0) + n
    merged.seconds = time.monotonic() - started
    (Path(out) / "amplify.json").write_text(json.dumps(merged.to_json(), indent=2) + "\n")
    return merged
