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
from maestro_tools.common.errors import NotFoundError, StalledError, UnreachableError
from maestro_tools.grasping.tilted import tilted_grasps

if TYPE_CHECKING:
    from maestro_agent.proxy.base import Base

LEVER_REACH = 0.04  # m from the handle box's middle towards the door's middle: near the lever's end
LEVER_RADIUS = 0.012  # m: a lever's half thickness, pressed on its middle
PRESS_FROM, PRESS_DEPTH = 0.04, 0.12  # m above the lever the press starts, and how far down it goes
PRESSED = 0.03  # m the fingers must have gone down past the lever's top for it to count as pressed
PRESS_TILTS = tuple(math.radians(t) for t in (45.0, 60.0, 75.0))  # the fingers' tilt from vertical
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
        """Where on the lever to press: towards the door's middle from the handle's, on the top of its
        outermost part (the lever stands off the door's face on its spindle)."""
        toward = float(self.along @ (self.middle[:2] - handle.position[:2]))
        extent = np.asarray(handle.extent, dtype=float)
        out = 0.5 * float(extent @ np.abs(handle.rotation.T @ np.array([*self.normal, 0.0])))  # half depth
        point = np.asarray(handle.position, dtype=float).copy()
        point[:2] += math.copysign(LEVER_REACH, toward) * self.along + (out - LEVER_RADIUS) * self.normal
        point[2] += 0.5 * float(extent @ np.abs(handle.rotation[2]))
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
    door, handle = _named(base, door_label), _named(base, handle_label)
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


def _named(base: Base, label: str) -> MappedObject:
    """The map's object named exactly ``label`` ("door" also finds "door handle"), once the detection
    just made has reached it."""
    if base._mapped(label) is None:
        raise NotFoundError(f"the semantic map has no {label!r} after detecting it")
    found = base._map._find_in(label, base._frame)
    return next((o for o in found if o.label == label), found[0])


def _press_and_push(base: Base, press: np.ndarray, frame: DoorFrame) -> None:
    """With the fingers closed: above the lever along a tilted approach, down, along the door's normal
    (the latch let go), then up off it."""
    robot, harness = base._robot, base._harness
    to_base = np.linalg.inv(base._ros.transform(base._frame, base._base))
    point = to_base[:3, :3] @ press + to_base[:3, 3]
    pose = np.eye(4)
    pose[:3, 3] = point
    gripper, arm = harness.robot.gripper, harness.robot.arm
    inward = -(to_base[:3, :3] @ np.array([*frame.normal, 0.0]))
    robot.close_gripper()
    refusals = []
    for tilt in PRESS_TILTS:  # from above, flatter where the arm does not reach that high
        approach = tilted_grasps(pose, np.full(3, 0.02), gripper.max_width, 0.0, 0.0, (tilt,), arm.down_yaw)
        try:
            robot.move_gripper_to(
                list(point + [0.0, 0.0, PRESS_FROM]), list(mat2euler(approach[0].pose[:3, :3]))
            )
            break
        except UnreachableError as exc:
            refusals.append(f"{math.degrees(tilt):.0f} deg: {exc}")
    else:
        raise UnreachableError(
            f"no pose above the handle's lever is reachable from here ({'; '.join(refusals)})"
        )
    above = robot.get_state().position
    try:
        robot.move_gripper_by([0.0, 0.0, -PRESS_DEPTH], contact=True, max_depth=0.04, speed=0.3)
    except StalledError:  # the lever at its stop, or its spring, holds the fingers back: pressed if down
        if above[2] - robot.get_state().position[2] < PRESS_FROM + PRESSED:
            raise
    robot.move_gripper_by(list(inward * PUSH_AJAR), contact=True, max_depth=0.03, speed=0.3)
    robot.move_gripper_by([0.0, 0.0, PRESS_FROM], speed=0.5)
