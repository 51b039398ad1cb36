"""The vla_bridge node's parameters (declared with descriptions, read once) and how a goal's ``policy``
and ``until`` fields are read."""

from __future__ import annotations

from dataclasses import dataclass, replace

from rclpy.node import Node

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.common.params import declare
from maestro_tools.robots.profile import VLA_ACTIONS, RobotProfile, VlaSpec
from maestro_tools.vla.client import normalise_url
from maestro_tools.vla.mapping import policy_formats

MONITORS = ("vlm", "progress", "none")


@dataclass(frozen=True)
class BridgeParams:
    server_url: str
    servers: dict[str, str]  # policy name -> URL
    spec: VlaSpec
    replan_steps: int
    default_timeout: float
    connect_timeout: float
    infer_timeout: float
    arm_action: str
    gripper_action: str
    joint_states_topic: str
    joint_prefix: str
    gripper_force: float
    monitor: str
    monitor_period: float
    monitor_camera: str
    vlm: str
    vlm_model: str
    vlm_base_url: str
    no_progress_window: float
    no_progress_tolerance: float
    observation_timeout: float
    object_labels: tuple[str, ...]  # what Detect is asked for a policy that requires object positions
    objects_camera: str
    objects_refresh: float


def _servers(entries: list[str]) -> dict[str, str]:
    servers = {}
    for entry in entries:
        if not entry.strip():
            continue
        name, sep, url = entry.partition("=")
        if not sep or not name.strip():
            raise InvalidArgumentError(
                f"policy_servers entries are name=ws://host:port[/path], got {entry!r}"
            )
        servers[name.strip()] = normalise_url(url)
    return servers


def _cameras(entries: list[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for entry in entries:
        if entry.strip():
            role, sep, camera = entry.partition(":")
            if not sep:
                raise InvalidArgumentError(f"policy_cameras entries are role:camera, got {entry!r}")
            pairs.append((role.strip(), camera.strip()))
    return tuple(pairs)


def declare_bridge_params(node: Node, profile: RobotProfile) -> BridgeParams:
    spec = profile.vla or VlaSpec()
    d = declare
    fmt = d(node, "policy_format", spec.policy_format, "Observation/action format", choices=policy_formats())
    cameras = _cameras(
        d(node, "policy_cameras", [""], "role:camera pairs, e.g. exterior:scene; [''] = the robot profile's")
    )
    spec = replace(
        spec,
        policy_format=fmt,
        cameras=cameras or spec.cameras,
        actions=d(
            node, "action_space", spec.actions, "What the chunks' arm columns hold", choices=VLA_ACTIONS
        ),
        control_rate=d(
            node, "control_rate", spec.control_rate, "Hz of chunk rows", minimum=1.0, maximum=500.0
        ),
        gripper_binary=d(node, "gripper_binary", spec.gripper_binary, "Threshold the gripper column at 0.5"),
    )
    servers = _servers(
        d(node, "policy_servers", [""], "Named servers for a goal's policy field: name=ws://host:port[/path]")
    )
    default = d(
        node,
        "server_url",
        "ws://127.0.0.1:8000",
        "The default policy server (openpi protocol): a ws:// URL or a name in policy_servers",
    )
    return BridgeParams(
        server_url=servers[default] if default in servers else normalise_url(default),
        servers=servers,
        spec=spec,
        replan_steps=d(
            node,
            "replan_steps",
            8,
            "Chunk rows executed before asking the policy again",
            minimum=1,
            maximum=1000,
        ),
        default_timeout=d(
            node, "default_timeout", 60.0, "Seconds a goal runs when it gives none", minimum=1.0
        ),
        connect_timeout=d(node, "connect_timeout", 5.0, "Seconds to connect to a server", minimum=0.1),
        infer_timeout=d(node, "infer_timeout", 10.0, "Seconds to wait for an action chunk", minimum=0.1),
        arm_action=d(
            node,
            "arm_action",
            "arm_controller/follow_joint_trajectory",
            "The arm's control_msgs/FollowJointTrajectory action (franka_ros2: "
            "/fr3_arm_controller/follow_joint_trajectory)",
        ),
        gripper_action=d(
            node, "gripper_action", "gripper_controller/gripper_cmd", "The control_msgs/GripperCommand action"
        ),
        joint_states_topic=d(node, "joint_states_topic", "joint_states", "sensor_msgs/JointState topic"),
        joint_prefix=d(node, "joint_prefix", "", "The driver's joint-name prefix if not the profile's"),
        gripper_force=d(
            node, "gripper_force", 0.0, "N when closing; 0 = the profile's grasp force", minimum=0.0
        ),
        monitor=d(node, "monitor", "vlm", "What says done when a goal's until is empty", choices=MONITORS),
        monitor_period=d(node, "monitor_period", 0.5, "Seconds between monitor checks", minimum=0.05),
        monitor_camera=d(
            node, "monitor_camera", "", "Camera the VLM monitor looks at; '' = the detection one"
        ),
        vlm=d(node, "vlm", "gemini", "VLM backend of the monitor (maestro_tools.vlm): gemini, openai"),
        vlm_model=d(node, "vlm_model", "", "The monitor's model; '' = the backend's default"),
        vlm_base_url=d(node, "vlm_base_url", "", "The monitor's VLM endpoint; '' = the backend's default"),
        no_progress_window=d(
            node, "no_progress_window", 3.0, "Seconds without progress that stop", minimum=0.2
        ),
        no_progress_tolerance=d(
            node, "no_progress_tolerance", 0.01, "Radians of arm motion that count as progress", minimum=1e-4
        ),
        observation_timeout=d(node, "observation_timeout", 3.0, "Seconds to wait for images", minimum=0.1),
        object_labels=tuple(
            label
            for label in d(
                node,
                "object_labels",
                [""],
                "Objects detected for a policy whose metadata requires observation/object_positions; "
                "[''] = everything the detector can name",
            )
            if label.strip()
        ),
        objects_camera=d(
            node, "objects_camera", "", "Camera those objects are detected in; '' = the detection one"
        ),
        objects_refresh=d(
            node, "objects_refresh", 0.0, "Seconds between object detections in a goal; 0 = once", minimum=0.0
        ),
    )


@dataclass(frozen=True)
class Until:
    kind: str  # vlm, progress, detect, none
    argument: str = ""  # the VLM question, the label
    threshold: float = 100.0  # progress score that counts as done


def parse_until(text: str, default: str) -> Until:
    """A goal's ``until``: vlm | vlm: <question> | progress | progress: <score> | detect: <label> | none."""
    kind, _, argument = (text.strip() or default).partition(":")
    kind, argument = kind.strip().lower(), argument.strip()
    if kind == "progress" and argument:
        try:
            score = float(argument)
        except ValueError:
            score = -1.0
        if not 0 < score <= 100:
            raise InvalidArgumentError(
                f"until 'progress: <score>' needs a score in (0, 100], got {argument!r}"
            )
        return Until(kind, threshold=score)
    if kind == "detect" and not argument:
        raise InvalidArgumentError("until 'detect: <label>' needs a label, e.g. 'detect: open drawer'")
    if kind not in ("vlm", "progress", "detect", "none") or (kind == "none" and argument):
        raise InvalidArgumentError(
            f"until {text!r} is not one of: vlm, vlm: <yes/no question>, progress, progress: <score>, "
            "detect: <label>, none"
        )
    return Until(kind, argument)


def resolve_server(policy: str, params: BridgeParams) -> str:
    """The URL for a goal's ``policy`` field: empty = the default, a ws:// URL, or a configured name."""
    name = policy.strip()
    if not name:
        return params.server_url
    if name.startswith(("ws://", "wss://")):
        return normalise_url(name)
    if name in params.servers:
        return params.servers[name]
    known = ", ".join(sorted(params.servers)) or "none (set policy_servers)"
    raise InvalidArgumentError(f"unknown policy {name!r}; configured: {known}; or give a ws:// URL")
