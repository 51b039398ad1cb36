"""The warp policy's segmentation and warping on synthetic trajectories, and its server over the protocol."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from maestro_tools.common.errors import NoDataError, NotFoundError
from maestro_tools.vla.client import PolicyClient
from maestro_tools.vla.server import PolicyServer
from maestro_tools.vla.warp_policy import OBJECTS_KEY, WarpPolicy, nearest_demonstration
from maestro_tools.vla.warping import (
    Demonstration,
    drop_idle,
    gripper_events,
    load_demonstrations,
    match_objects,
    segment,
    warp_positions,
)

ITEM, BOWL = np.array([0.5, 0.15, 0.03]), np.array([0.55, -0.18, 0.02])
OPEN, HELD = 0.08, 0.066


@dataclass
class _IK:
    q: np.ndarray


class PointKinematics:
    """A stand-in arm whose first three joints are the TCP position (the pose's rotation stays identity)."""

    def fk(self, q: np.ndarray) -> np.ndarray:
        pose = np.eye(4)
        pose[:3, 3] = np.asarray(q)[:3]
        return pose

    def solve(self, target: np.ndarray, seed: np.ndarray, iterations: int = 0) -> _IK:
        q = np.array(seed, dtype=np.float64)
        q[:3] = target[:3, 3]
        return _IK(q)


def pick_and_place(instruction: str = "Put the tennis ball into the bowl.") -> Demonstration:
    """Home -> above the item -> down, close -> up -> over the bowl -> open -> up; 7 'joints' (xyz first)."""
    home, above_item, above_bowl = np.array([0.3, 0.0, 0.5]), ITEM + [0, 0, 0.2], BOWL + [0, 0, 0.15]
    keys = [
        (home, OPEN),
        (above_item, OPEN),
        (ITEM, OPEN),
        (ITEM, HELD),
        (above_item, HELD),
        (above_bowl, HELD),
        (above_bowl, OPEN),
        (above_bowl + [0, 0, 0.1], OPEN),
    ]
    points, opening = [], []
    for (a, wa), (b, wb) in itertools.pairwise(keys):
        for s in np.linspace(0, 1, 10, endpoint=False):
            points.append(a + s * (b - a))
            opening.append(wa + s * (wb - wa))
    points.append(keys[-1][0])
    opening.append(keys[-1][1])
    joints = np.hstack([np.array(points), np.zeros((len(points), 4))])
    times = np.arange(len(points)) * 0.1
    return Demonstration(instruction, times, joints, np.array(opening), {"tennis ball": ITEM, "bowl": BOWL})


def test_gripper_events_and_segments_follow_the_opening() -> None:
    demo = pick_and_place()
    events = gripper_events(demo.opening)
    assert [closing for _, closing in events] == [True, False]
    assert events[0][0] == 20 and events[1][0] == 50  # where the opening starts to change
    segments = segment(demo, demo.joints[:, :3])
    assert [s.anchor for s in segments] == ["tennis ball", "bowl", None]
    assert [s.closed for s in segments] == [False, True, False]


def test_idle_stretches_are_shortened() -> None:
    demo = pick_and_place()
    still = np.repeat(demo.joints[:1], 30, axis=0)  # 3 s at home before moving
    joints = np.vstack([still, demo.joints])
    opening = np.concatenate([np.full(30, OPEN), demo.opening])
    long = Demonstration(demo.instruction, np.arange(len(joints)) * 0.1, joints, opening, demo.objects)
    short = drop_idle(long, keep=0.3)
    assert short.times[-1] == pytest.approx(demo.times[-1] + 0.3, abs=0.11)
    assert np.allclose(short.joints[-1], demo.joints[-1])


def test_the_warp_is_rigid_at_the_events_and_zero_at_the_start() -> None:
    demo = pick_and_place()
    tcp = demo.joints[:, :3]
    item_shift, bowl_shift = np.array([-0.06, 0.05, 0.0]), np.array([0.04, 0.03, 0.0])
    moved = warp_positions(demo, tcp, {"tennis ball": ITEM + item_shift, "bowl": BOWL + bowl_shift})
    assert np.allclose(moved[0], tcp[0])  # the start (home) does not move
    assert np.allclose(moved[20], ITEM + item_shift)  # the grasp moves with the item
    assert np.allclose(moved[15:21] - tcp[15:21], item_shift)  # the last 12 cm of the descent rigidly
    assert np.allclose(moved[50], tcp[50] + bowl_shift)  # the release with the bowl
    assert np.allclose(moved[-1], tcp[-1] + bowl_shift)  # and the retreat after it
    assert np.all(np.linalg.norm(np.diff(moved, axis=0), axis=1) < 0.06)  # no jumps


def test_correspondences_prompts_and_missing_objects() -> None:
    demo = pick_and_place()
    matched = match_objects(demo, {"bowl": BOWL, "orange": ITEM + 0.01})  # another item takes the ball's role
    assert np.allclose(matched["tennis ball"], ITEM + 0.01)
    with pytest.raises(NotFoundError, match="tennis ball"):
        match_objects(demo, {"bowl": BOWL})
    other = pick_and_place("Open the cabinet door.")
    assert nearest_demonstration([other, demo], "put the ball in the bowl") is demo


def test_demonstrations_round_trip_through_files(tmp_path: Path) -> None:
    demo = pick_and_place()
    demo.save(tmp_path / "a.npz")
    (loaded,) = load_demonstrations(tmp_path)
    assert loaded.instruction == demo.instruction and np.allclose(loaded.joints, demo.joints)
    assert set(loaded.objects) == {"tennis ball", "bowl"} and np.allclose(loaded.objects["bowl"], BOWL)


def test_the_warp_server_answers_droid_chunks_and_replans() -> None:
    policy = WarpPolicy([pick_and_place()], PointKinematics(), max_velocity=10.0, horizon=8)
    shift = np.array([0.05, -0.04, 0.0])
    seen = {"tennis ball": (ITEM + shift).astype(np.float32), "bowl": BOWL.astype(np.float32)}
    q = pick_and_place().joints[0].copy()
    with PolicyServer(policy, port=0) as server, PolicyClient(server.url) as client:
        assert client.metadata["policy"] == "maestro-warp"
        closed_seen = False
        for _ in range(40):  # follow the chunks (integrating velocities) until the plan is done
            observation = {
                "observation/joint_position": q.astype(np.float32),
                "observation/gripper_position": np.zeros(1, np.float32),
                "prompt": "Put the tennis ball into the bowl.",
                OBJECTS_KEY: seen,
            }
            reply = client.infer(observation)
            actions = reply["actions"]
            assert actions.shape == (8, 8)
            q = q + actions[:, :7].sum(axis=0) / 15.0
            if actions[:, 7].max() > 0.5 and not closed_seen:
                closed_seen = True
                assert np.linalg.norm(q[:3] - (ITEM + shift)) < 0.03  # closes at the moved item
            if reply["done"]:
                break
        assert closed_seen and reply["done"]
        assert np.linalg.norm(q[:3] - (BOWL + [0, 0, 0.25])) < 0.03  # ends above the bowl
        with pytest.raises(Exception, match="object_positions"):
            client.infer({"observation/joint_position": q.astype(np.float32), "prompt": "x"})
    assert NoDataError  # the error type the server raises for a missing key
