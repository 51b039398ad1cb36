"""Robot profiles: one frozen declaration per robot, everything a module needs to know about it.

A profile names the arm's joints (as ROS and as its robot-only MJCF call them), its home posture, TCP,
gripper, cameras, frames, workspace and capabilities, and builds the robot-only MJCF that kinematics,
planning and the URDF are derived from. Nothing outside a robot's profile file names its constants.
Joint limits are not repeated here: they come from the model (``RobotModel.limits``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import mujoco
import numpy as np

from maestro_tools.common.errors import InvalidArgumentError, NoDataError

CAPABILITIES = ("arm", "gripper", "base", "cameras", "semantic_map", "vla")
VLA_ACTIONS = ("joint_velocity", "joint_position")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidArgumentError(message)


@dataclass(frozen=True)
class ArmSpec:
    joints: tuple[str, ...]  # ROS joint names, in the order of ``home``
    mjcf_joints: tuple[str, ...]  # the same joints in the robot-only MJCF
    home: tuple[float, ...]  # rad
    tcp_frame: str  # ROS frame of the tool centre point
    tcp_site: str  # the MJCF site at the TCP
    hand_body: str  # MJCF body carrying the gripper (held objects attach to it)
    fine_bodies: tuple[str, ...]  # MJCF bodies sampled finely for collision checks (hand, fingers)
    reach: float  # m, shoulder-to-TCP reach, for a quick out-of-reach answer
    max_joint_velocity: float = 0.8  # rad/s used when timing planned paths
    reach_tolerance: float = 0.005  # m: a move whose gripper comes to rest farther from its target fell short
    joint_tolerance: float = 0.01  # rad: the same for a joint goal (each joint; the motion's goal_tolerance)
    # How the wrist grasps best (the defaults: a wrist that turns freely, grasps from straight above):
    down_yaw: float = 0.0  # rad: yaw (about the base z) of the TCP x axis when the gripper points down
    grasp_tilts: tuple[float, ...] = ()  # rad from vertical: tilted grasps proposed besides top-down ones
    # Arm joints (``home`` order) raising the hand camera to look ahead and down, e.g. over a table top
    # that other cameras cannot see: the first pose, then the others in turn; () = no such pose.
    look_poses: tuple[tuple[float, ...], ...] = ()
    # TF frames along the arm from its mount to the hand (the TCP is added), for filtering the arm and
    # what it holds out of depth (navigation); () = the arm never reaches into a depth camera's view.
    link_frames: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require(len(self.joints) == len(self.mjcf_joints) == len(self.home), "arm: joints/home mismatch")
        _require(len(set(self.joints)) == len(self.joints), "arm: duplicate joint names")
        _require(self.reach > 0 and self.max_joint_velocity > 0, "arm: reach and velocity must be > 0")
        _require(0 < self.reach_tolerance <= 0.05, "arm: reach_tolerance must be in (0, 0.05] m")
        _require(0 < self.joint_tolerance <= 0.1, "arm: joint_tolerance must be in (0, 0.1] rad")
        _require(all(0 < t < np.pi / 2 for t in self.grasp_tilts), "arm: grasp tilts must be in (0, pi/2)")
        _require(all(len(p) == len(self.joints) for p in self.look_poses), "arm: look poses need every joint")

    @property
    def down(self) -> tuple[float, float, float]:
        """Roll, pitch, yaw (rad, base frame) of the gripper pointing straight down as the wrist likes it."""
        return (float(np.pi), 0.0, float(self.down_yaw))


@dataclass(frozen=True)
class GripperSpec:
    kind: str  # "parallel": two fingers closing along the TCP y axis
    max_width: float  # m, fully open
    finger_joints: tuple[str, ...]  # ROS names; the opening is their sum
    mjcf_finger_joints: tuple[str, ...]
    finger_depth: float  # m, how far below an object's top the TCP goes for a top-down grasp
    pad_clearance: float  # m, lowest TCP height above a support surface that keeps the pads off it
    empty_width: float  # m, fingers closed to at most this = closed on nothing
    grasp_force: float  # N, default grasp force
    max_force: float  # N, the most the gripper can squeeze
    speed: float = 0.1  # m/s of the opening while the fingers move (before they squeeze)
    # (min, max) corners of boxes around the open fingers and the hand, TCP frame (z = approach).
    volumes: tuple[tuple[tuple[float, float, float], tuple[float, float, float]], ...] = ()

    def __post_init__(self) -> None:
        _require(self.kind == "parallel", f"gripper kind {self.kind!r} is unknown; valid: parallel")
        _require(0 < self.empty_width < self.max_width, "gripper: need 0 < empty_width < max_width")
        _require(0 < self.grasp_force <= self.max_force, "gripper: need 0 < grasp_force <= max_force")
        _require(self.speed > 0, "gripper: speed must be > 0")

    def width(self, positions: Mapping[str, float]) -> float:
        """The opening (m) from the finger joints' positions in a joint-state mapping."""
        return float(sum(positions[name] for name in self.finger_joints))


@dataclass(frozen=True)
class CameraSpec:
    name: str  # topics live under <name>_camera/
    optical_frame: str  # REP-103 optical frame: z forward, x right, y down
    mount_frame: str  # the frame it is fixed to (a robot link, or the fixed frame for a cell camera)
    mjcf_camera: str = ""  # for cameras on the robot: the MJCF camera in the robot-only model

    @property
    def namespace(self) -> str:
        return f"{self.name}_camera"


@dataclass(frozen=True)
class BaseSpec:
    """A mobile base: planar velocity limits (the driver enforces them too) and, for a wheeled base,
    its drive (skid-steer or differential: the wheels on each side turn together)."""

    max_linear: float  # m/s
    max_angular: float  # rad/s
    footprint_radius: float  # m: the circle the base sweeps turning in place (circumscribed)
    odom_frame: str = "odom"  # REP-105: fixed_frame -> odom -> base_frame
    left_wheels: tuple[str, ...] = ()  # MJCF wheel joints (profile.ros_names gives the ROS names)
    right_wheels: tuple[str, ...] = ()
    wheel_radius: float = 0.0  # m
    track_width: float = 0.0  # m between the left and right wheels' centres
    max_linear_accel: float = 1.0  # m/s^2
    max_angular_accel: float = 3.0  # rad/s^2
    # Joints held at these positions (rad or m) while the base drives: a legged robot's stand on wheels.
    posture: tuple[tuple[str, float], ...] = ()
    # How far a legged base may lower (m, <= 0, from the stand) and pitch (rad, either way) its body on
    # command, wheels kept where they stand; 0 = a fixed body.
    min_height_offset: float = 0.0
    max_pitch: float = 0.0
    # The largest circle inside the footprint (its half width for a long base): how near an obstacle its
    # centre may pass driving forward; 0 = a round base (the footprint radius).
    inscribed_radius: float = 0.0

    @property
    def inscribed(self) -> float:
        return self.inscribed_radius or self.footprint_radius

    def __post_init__(self) -> None:
        _require(
            self.max_linear > 0 and self.max_angular > 0 and self.footprint_radius > 0,
            "base: speeds and footprint must be > 0",
        )
        _require(self.max_linear_accel > 0 and self.max_angular_accel > 0, "base: accelerations must be > 0")
        _require(
            0 <= self.inscribed_radius <= self.footprint_radius,
            "base: need 0 <= inscribed_radius <= footprint_radius",
        )
        _require(
            self.min_height_offset <= 0 and self.max_pitch >= 0,
            "base: need min_height_offset <= 0 <= max_pitch",
        )
        if self.left_wheels or self.right_wheels:
            _require(
                bool(self.left_wheels) and bool(self.right_wheels), "base: wheels on both sides, or none"
            )
            _require(self.wheel_radius > 0 and self.track_width > 0, "base: wheel radius and track > 0")

    @property
    def wheel_joints(self) -> tuple[str, ...]:
        return self.left_wheels + self.right_wheels


@dataclass(frozen=True)
class VlaSpec:
    """How the robot meets a learned policy (the vla_bridge node); declaring it gives the ``vla`` capability
    (the agent's ``vla`` tool). The policy format names the observation keys and image size
    (``maestro_tools.vla.mapping``); ``cameras`` fills the format's image roles, e.g. (("exterior",
    "scene"), ("wrist", "wrist")); () = exterior: the detection camera, wrist: the hand camera."""

    policy_format: str = "droid"
    cameras: tuple[tuple[str, str], ...] = ()  # (image role, camera name)
    actions: str = "joint_velocity"  # what each chunk row holds for the arm: joint_velocity or joint_position
    control_rate: float = 15.0  # Hz at which a chunk's rows are executed (DROID: 15)
    gripper_binary: bool = True  # the gripper column thresholded at 0.5 (0 = open, 1 = closed)

    def __post_init__(self) -> None:
        _require(self.actions in VLA_ACTIONS, f"vla: actions {self.actions!r} is not one of {VLA_ACTIONS}")
        _require(0 < self.control_rate <= 1000, "vla: control_rate must be in (0, 1000] Hz")
        roles = [role for role, _ in self.cameras]
        _require(len(set(roles)) == len(roles), f"vla: duplicate camera roles {roles}")


@dataclass(frozen=True)
class Workspace:
    """Axis-aligned box in the base frame where the tools may put the TCP and look for objects."""

    lower: tuple[float, float, float]
    upper: tuple[float, float, float]

    def __post_init__(self) -> None:
        _require(
            all(lo < hi for lo, hi in zip(self.lower, self.upper, strict=True)), "workspace: lower < upper"
        )

    def contains(self, point: np.ndarray) -> bool:
        point = np.asarray(point, dtype=np.float64)
        return bool(np.all(point >= self.lower) and np.all(point <= self.upper))

    def describe(self) -> str:
        (x0, y0, z0), (x1, y1, z1) = self.lower, self.upper
        return f"x {x0}..{x1}, y {y0}..{y1}, z {z0}..{z1} m"


@dataclass(frozen=True)
class RobotProfile:
    name: str
    description: str
    fixed_frame: str  # REP-105: "map" for a mobile robot, "world" for a fixed cell
    base_frame: str  # where the arm's kinematics and the tools' default answers live
    cameras: tuple[CameraSpec, ...]
    detection_camera: str  # the camera detection uses unless told otherwise
    workspace: Workspace
    build_mjcf: Callable[[], mujoco.MjSpec]  # the robot-only model (no world, no table)
    ros_names: Callable[[str], str]  # MJCF body/joint/site name -> ROS link/joint/frame name
    arm: ArmSpec | None = None
    gripper: GripperSpec | None = None
    base: BaseSpec | None = None
    joint_prefix: str = ""  # shared prefix of the profile's joint names, swapped for a driver's own
    semantic_map: bool = False  # its bringup runs a semantic_mapper (needs cameras)
    # It runs learned policies through the vla_bridge (needs an arm, a gripper and cameras).
    vla: VlaSpec | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [c.name for c in self.cameras]
        _require(len(set(names)) == len(names), f"{self.name}: duplicate camera names {names}")
        _require(
            not self.cameras or self.detection_camera in names,
            f"{self.name}: detection camera {self.detection_camera!r} is not one of {names}",
        )
        _require(self.gripper is None or self.arm is not None, f"{self.name}: a gripper needs an arm")
        if self.vla is not None:
            _require(
                self.gripper is not None and bool(self.cameras),
                f"{self.name}: vla needs a gripper and cameras",
            )
            unknown = [camera for _, camera in self.vla.cameras if camera not in names]
            _require(not unknown, f"{self.name}: vla cameras {unknown} are not among {names}")

    @property
    def capabilities(self) -> frozenset[str]:
        present = {
            "arm": self.arm,
            "gripper": self.gripper,
            "base": self.base,
            "cameras": self.cameras or None,
            "semantic_map": (self.semantic_map and self.cameras) or None,
            "vla": self.vla,
        }
        return frozenset(name for name, part in present.items() if part is not None)

    def camera(self, name: str) -> CameraSpec:
        for camera in self.cameras:
            if camera.name == name:
                return camera
        raise InvalidArgumentError(
            f"unknown camera {name!r} on {self.name}; valid: {', '.join(c.name for c in self.cameras)}"
        )

    @property
    def hand_camera(self) -> str:
        """The first camera on the robot's own body (close views before a grasp), else the detection one."""
        return next((c.name for c in self.cameras if c.mjcf_camera), self.detection_camera)

    @property
    def camera_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.cameras)

    def joint_names(self, prefix: str | None = None) -> JointNames:
        """The arm and finger joint names as a driver with joint-name ``prefix`` calls them."""
        return JointNames(self, self.joint_prefix if prefix is None or prefix == "" else prefix)

    def require(self, capability: str) -> None:
        if capability not in self.capabilities:
            raise InvalidArgumentError(
                f"the robot {self.name!r} has no {capability}; it has: {', '.join(sorted(self.capabilities))}"
            )


@dataclass(frozen=True)
class JointNames:
    """Joint names on the wire: franka_ros2 calls ``panda_joint1`` ``fr3_joint1`` (prefix ``fr3_``)."""

    profile: RobotProfile
    prefix: str

    def wire(self, name: str) -> str:
        own = self.profile.joint_prefix
        return self.prefix + name[len(own) :] if own and name.startswith(own) else name

    @property
    def arm(self) -> tuple[str, ...]:
        return tuple(self.wire(n) for n in self.profile.arm.joints) if self.profile.arm else ()

    @property
    def fingers(self) -> tuple[str, ...]:
        return tuple(self.wire(n) for n in self.profile.gripper.finger_joints) if self.profile.gripper else ()

    def arm_positions(self, names: Sequence[str], positions: Sequence[float]) -> np.ndarray:
        """The arm's positions in profile order from a joint-state message's names and positions."""
        index = {name: k for k, name in enumerate(names)}
        missing = [n for n in self.arm if n not in index]
        if missing:
            raise NoDataError(f"joint_states lacks the arm joints {missing}; it has {list(names)}")
        return np.array([positions[index[n]] for n in self.arm], dtype=np.float64)

    def gripper_width(self, names: Sequence[str], positions: Sequence[float]) -> float | None:
        """The opening (m) from the finger joints, or None when the message has none of them."""
        index = {name: k for k, name in enumerate(names)}
        fingers = [positions[index[n]] for n in self.fingers if n in index]
        return float(sum(fingers)) * len(self.fingers) / len(fingers) if fingers else None
