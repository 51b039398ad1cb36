"""Demonstrations from the trace store: successful trials' joint trajectories, their scenes' objects.

A trial records its joint states (``robot_states``) and instruction but not the scene's seed, so the
scene comes from the sweep that ran it (``--sweep``: a results JSON whose trials carry trial_id, task,
seed and axis, as ``bench/program_sweep.py`` and ``maestro eval`` write). The objects' start positions are
what a camera gives: the scene reset in-process, its scene camera rendered and each object located from
its depth pixels under the detector's segmentation (``perception.objects.detect_objects``, the sim
detector's backend), not read from the simulator's state.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maestro_tools.common.errors import NoDataError, NotFoundError
from maestro_tools.perception.objects import CameraFrame, detect_objects
from maestro_tools.robots import get_robot
from maestro_tools.sim.world import SimWorld
from maestro_tools.vla.warping import Demonstration

log = logging.getLogger(__name__)
CAMERA = "scene"


@dataclass(frozen=True)
class SceneSetting:
    task: str
    seed: int
    axis: str = "none"


def camera_frame(world: SimWorld, camera: str = CAMERA) -> CameraFrame:
    """A rendered frame of ``camera`` with the segmentation the sim detector uses."""
    cameras = world.render_cameras()
    rendered = cameras.frame(world.data, camera)
    return CameraFrame(
        camera,
        rendered.rgb,
        rendered.depth,
        world.segmentation(camera),
        dict(enumerate(world.instance_labels)),
        cameras.intrinsics(camera),
        cameras.pose(world.data, camera),
        rendered.time,
    )


def correspondences(world: SimWorld, camera: str = CAMERA) -> dict[str, np.ndarray]:
    """Each task object's position (base frame) as the camera sees it: the centre of its detected box."""
    frame = camera_frame(world, camera)
    return {d.label: d.pose[:3, 3].copy() for d in detect_objects(frame, list(world.info.objects))}


def sweep_settings(path: Path | str) -> dict[str, SceneSetting]:
    """trial_id -> scene setting from the sweep that ran the trials: ``maestro eval``'s out folder or its
    results.jsonl (rows that ran), or a JSON with ``trials`` [{trial_id, task, seed, axis}] as
    bench/program_sweep.py writes."""
    path = Path(path)
    if path.is_dir() or path.suffix == ".jsonl":
        from maestro_agent.evaluation.results import latest, read_rows

        trials = [r for r in latest(read_rows(path)) if not r.get("error")]
    else:
        data = json.loads(path.read_text())
        trials = data.get("trials", data) if isinstance(data, dict) else data
    return {
        t["trial_id"]: SceneSetting(t["task"], int(t["seed"]), t.get("axis", "none"))
        for t in trials
        if t.get("trial_id")
    }


def sweep_store(sweep: Path | str) -> Path | None:
    """The trace store a ``maestro eval`` out folder recorded into (OUT/traces), None for other sweeps."""
    folder = Path(sweep) if Path(sweep).is_dir() else Path(sweep).parent
    return folder / "traces" if (folder / "traces" / "traces.db").is_file() else None


def _states(db: sqlite3.Connection, trial: str, arm: Sequence[str], fingers: Sequence[str]) -> tuple:
    rows = db.execute(
        "SELECT t, names, positions FROM robot_states WHERE trial_id = ? ORDER BY t, id", (trial,)
    ).fetchall()
    times, joints, opening = [], [], []
    for t, names, positions in rows:
        index = {n: i for i, n in enumerate(json.loads(names))}
        values = json.loads(positions)
        if not all(n in index for n in (*arm, *fingers)):
            continue
        if times and t <= times[-1]:
            continue
        times.append(t)
        joints.append([values[index[n]] for n in arm])
        opening.append(sum(values[index[n]] for n in fingers))
    return np.asarray(times) - (times[0] if times else 0.0), np.asarray(joints), np.asarray(opening)


def collect(
    store: Path | str,
    out: Path | str,
    scenes: Mapping[str, SceneSetting],
    task: str = "",
    robot: str = "franka",
    limit: int = 0,
) -> list[Path]:
    """Write each successful trial (of ``task``; with a known scene) as ``out/<trial>.npz``; their paths."""
    db_path = Path(store).expanduser() / "traces.db"
    if not db_path.is_file():
        raise NotFoundError(f"no trace store at {store} (no traces.db)")
    profile = get_robot(robot)
    assert profile.arm is not None and profile.gripper is not None
    names = profile.joint_names()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    world: SimWorld | None = None
    try:
        query = "SELECT id, instruction, task_type FROM trials WHERE success = 1"
        trials = db.execute(
            query + (" AND task_type = ?" if task else "") + " ORDER BY started, id", (task,) if task else ()
        ).fetchall()
        for trial, instruction, task_type in trials:
            setting = scenes.get(trial)
            if setting is None:
                log.warning("skipping trial %s: its scene (task, seed, axis) is not in the sweep file", trial)
                continue
            times, joints, opening = _states(db, trial, names.arm, names.fingers)
            if len(times) < 10:
                log.warning("skipping trial %s: only %d joint states", trial, len(times))
                continue
            if world is None:
                world = SimWorld(setting.task, setting.seed, setting.axis, width=320, height=240)
            else:
                world.reset(setting.task, setting.seed, setting.axis)
            demo = Demonstration(
                instruction,
                times,
                joints,
                opening,
                correspondences(world),
                task_type,
                f"trial {trial}: {setting.task} seed {setting.seed} {setting.axis}",
            )
            written.append(demo.save(out / f"{trial}.npz"))
            if limit and len(written) >= limit:
                break
    finally:
        db.close()
        if world is not None:
            world.close()
    if not written:
        raise NoDataError(f"no successful trial{' of ' + task if task else ''} with a known scene in {store}")
    return written
