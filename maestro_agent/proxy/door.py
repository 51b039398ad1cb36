"""The base tool's door skill: press a lever handle, push the door ajar with it, and drive through pushing
the leaf open (plain Python over the base, robot, perception and semantic-map tools; ``Base.open_door``).

The door and its handle come from the semantic map (map frame) after a detection: the door's box gives
its plane (the thin horizontal axis, its normal towards the robot) and its middle; the handle's box
gives the lever. A lever points from its pivot, near the latch edge, towards the hinge: it is pressed
LEVER_REACH m from the handle's middle towards the door's middle, from above along a grasp's tilted
approach (the fingers closed), then pushed along the door's normal while pressed so the latch stays
open, then let go. The base then stands before the door's middle and drives straight through it with
the navigation's "push" behaviour, the leaf swinging ahead of it. A door that opens towards the robot
(to be pulled) is not handled: the push stalls and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from transforms3d.euler import mat2euler

from maestro_agent.proxy.types import BasePose, MappedObject
from maestro_tools.common.errors import NotFoundError, StalledError
from maestro_tools.grasping.tilted import tilted_grasps

if TYPE_CHECKING:
    from maestro_agent.proxy.base import Base

LEVER_REACH = 0.04  # m from the handle box's middle towards the door's middle: near the lever's end
PRESS_FROM, PRESS_DEPTH = 0.05, 0.08  # m above the lever the press starts, and how far down it goes
PUSH_AJAR = 0.08  # m the pressed lever is pushed along the door's normal (0.1 rad on a 0.8 m leaf)
STAND_OFF = 0.8  # m before the door's plane where the base lines up with its middle
THROUGH = 1.2  # m past the door's plane the base drives to


@dataclass(frozen=True)
class DoorFrame:
    """A door's middle (map frame), its normal towards the robot and its horizontal axis (unit, xy)."""

    middle: np.ndarray
    normal: np.ndarray
    along: np.ndarray

    @classmethod
    def of(cls, door: MappedObject, robot_xy: np.ndarray) -> DoorFrame:
        axes = door.rotation[:2, :2].T  # the box's horizontal axes, as rows
        sizes = np.asarray(door.extent[:2], dtype=float)
        normal = axes[int(np.argmin(sizes))]
        normal = normal / np.linalg.norm(normal)
        if normal @ (robot_xy - door.position[:2]) < 0:
            normal = -normal
        return cls(np.asarray(door.position, dtype=float), normal, np.array([-normal[1], normal[0]]))

    def press_point(self, handle: MappedObject) -> np.ndarray:
        """Where on the lever to press: towards the door's middle from the handle's, on its top."""
        toward = float(self.along @ (self.middle[:2] - handle.position[:2]))
        point = np.asarray(handle.position, dtype=float).copy()
        point[:2] += math.copysign(LEVER_REACH, toward) * self.along
        point[2] += 0.5 * float(np.abs(handle.rotation[2]) @ handle.extent)
        return point

    def before(self, distance: float) -> tuple[float, float, float]:
        """A base pose ``distance`` m before the door's middle (the robot's side; < 0: past it), facing it."""
        x, y = self.middle[:2] + distance * self.normal
        return float(x), float(y), math.atan2(-self.normal[1], -self.normal[0])


def open_door(base: Base, door_label: str, handle_label: str) -> BasePose:
    """Press the handle, push the door ajar, stand before it and drive through; the pose reached."""
    robot = base._robot
    if robot is None or base._perception is None or base._map is None:
        raise NotFoundError("open_door needs the arm, the cameras and the semantic map")
    try:
        base._perception.detect([door_label, handle_label])
    except NotFoundError as exc:
        raise NotFoundError(f"{exc}; face the door from about 1.5 m (base.go_to) and try again") from None
    door = base._map._find_in(door_label, base._frame)[0]
    handle = base._map._find_in(handle_label, base._frame)[0]
    here = base.get_pose()
    frame = DoorFrame.of(door, np.array([here.x, here.y]))
    press = frame.press_point(handle)
    base.go_near(list(press), avoid=[door_label])
    _press_and_push(base, press, frame)
    robot.move_home()
    base.go_to(*frame.before(STAND_OFF))
    x, y, yaw = frame.before(-THROUGH)
    try:
        return base.go_to(x, y, yaw, tolerance=0.15, push=True)
    except StalledError as exc:
        raise StalledError(
            f"{exc}: the door did not swing away (latched again, or it opens towards the robot)"
        ) from None


def _press_and_push(base: Base, press: np.ndarray, frame: DoorFrame) -> None:
    """With the fingers closed: above the lever along a tilted approach, down, along the door's normal
    (the latch let go), then up off it."""
    robot, harness = base._robot, base._harness
    to_base = np.linalg.inv(base._ros.transform(base._frame, base._base))
    point = to_base[:3, :3] @ press + to_base[:3, 3]
    pose = np.eye(4)
    pose[:3, 3] = point
    gripper, arm = harness.robot.gripper, harness.robot.arm
    approach = tilted_grasps(
        pose, np.full(3, 0.02), gripper.max_width, 0.0, 0.0, (math.radians(45.0),), arm.down_yaw
    )[0]
    rpy = list(mat2euler(approach.pose[:3, :3], "sxyz"))
    inward = -(to_base[:3, :3] @ np.array([*frame.normal, 0.0]))
    robot.close_gripper()
    robot.move_gripper_to(list(point + [0.0, 0.0, PRESS_FROM]), rpy)
    robot.move_gripper_by([0.0, 0.0, -PRESS_DEPTH], contact=True, max_depth=0.03, speed=0.3)
    robot.move_gripper_by(list(inward * PUSH_AJAR), contact=True, max_depth=0.03, speed=0.3)
    robot.move_gripper_by([0.0, 0.0, PRESS_FROM], speed=0.5)
