"""The ``go2w_sim_node``: the Go2-W + PiPER in the MuJoCo house behind the interface a real robot's drivers
give (ARCHITECTURE.md, "The robot interface").

Built from the Franka sim's pieces: the physics thread (``PhysicsRunner``: sim time in lock-step with
/clock, jobs, camera rendering), the action servers (``SimControllers``: control_msgs FollowJointTrajectory
on ``arm_controller/follow_joint_trajectory`` and ``body_controller/follow_joint_trajectory``,
GripperCommand on ``gripper_controller/gripper_cmd``), the TF publisher (robot_state_publisher-style
transforms from the URDF tree) and the camera topics. The world is ``MobileWorld`` (``world.py``).

Publishes /clock, joint_states (legs, wheels, arm, fingers, and the body posture's virtual joints
``body_height``, m from the stand, - = lower, and ``body_pitch``, rad, + = nose down), odom
(nav_msgs/Odometry), /tf_static (``map -> odom`` and the robot's fixed joints, camera optical frames
included), /tf (the moving joints and ``odom -> base_link``, the base's full 6-DoF pose), the latched
/robot_description, and per camera (head, wrist) rgb8 colour, depth and CameraInfo while someone watches
it. Subscribes cmd_vel (geometry_msgs/Twist): forward speed and yaw rate, clamped to the base's limits; a
watchdog stops the base when no command came for ``cmd_vel_timeout`` s of sim time.

Localisation and odometry are the simulation's ground truth: ``map -> odom`` is the identity (a
drift-free localisation) and ``odom -> base_link`` and odom are the base's true pose and velocity (no
wheel-odometry drift yet).

Simulation extras (``sim/scene_services.py``, shared with the Franka sim): ``reset_scene`` (a house task
from ``mobile/tasks``, a seed, a perturbation; also the ``task``/``seed``/``perturbation`` parameters at
start), ``get_task_progress``, ``get_segmentation`` (ground truth in base_link, default camera: the head)
and the latched ``scene`` topic. A reset rebuilds the house: ``world.model``/``data``/``robot`` are new.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Header, String

from maestro_tools.common.conversions import seconds_to_time
from maestro_tools.common.errors import MaestroError
from maestro_tools.common.node_main import run_node
from maestro_tools.common.params import declare
from maestro_tools.common.qos import LATCHED_QOS, STATE_QOS
from maestro_tools.robots.description import robot_description
from maestro_tools.sim.camera_topics import DEPTH_ENCODINGS, CameraTopics
from maestro_tools.sim.cameras import Frame
from maestro_tools.sim.controllers import SimControllers
from maestro_tools.sim.mobile.command import clamp_twist
from maestro_tools.sim.mobile.tasks import HOUSE_TASKS, PERTURBATIONS
from maestro_tools.sim.mobile.vendor.hook import serve_vendor_protocols
from maestro_tools.sim.mobile.world import WORLDS, BaseState, MobileWorld
from maestro_tools.sim.runner import Outputs, PhysicsRunner, RunnerConfig
from maestro_tools.sim.scene_services import SceneServices
from maestro_tools.sim.tf_publisher import FrameTransform, RobotTransforms, TfPublisher

ROBOT = "go2w_piper"
IDENTITY = ((0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0))


def _runner_config(node: Node, cameras: tuple[str, ...]) -> RunnerConfig:
    def rate(name: str, default: float, text: str, lowest: float = 1.0, highest: float = 1000.0) -> float:
        return declare(node, name, default, text, minimum=lowest, maximum=highest)

    return RunnerConfig(
        real_time_factor=declare(
            node,
            "real_time_factor",
            1.0,
            "Simulated seconds per wall second; 0 = as fast as possible",
            minimum=0.0,
        ),
        clock_rate=rate("clock_rate", 10.0, "/clock rate, Hz (sim time): stamps and sim-time timers"),
        joint_state_rate=rate(
            "joint_state_rate",
            100.0,
            "joint_states and odom rate while the robot moves, a camera is watched or a command just ran, Hz",
        ),
        joint_state_idle_rate=rate(
            "joint_state_idle_rate", 10.0, "joint_states and odom rate while the robot stands still, Hz"
        ),
        camera_rate=rate(
            "camera_rate",
            5.0,
            "Rate of each watched camera, Hz (sim time); 0 = no images. A 640x480 RGB-D pair costs ~0.2 s "
            "of CPU to render",
            lowest=0.0,
            highest=30.0,
        ),
        cameras=cameras,
        goal_tolerance=declare(
            node,
            "goal_tolerance",
            0.02,
            "Default per-joint trajectory goal tolerance, rad",
            minimum=0.001,
            maximum=0.5,
        ),
    )


class MobileSimNode(Node):
    def __init__(self) -> None:
        super().__init__("sim")
        world = declare(self, "world", "house", "Simulated world the robot starts in", choices=WORLDS)
        task = declare(
            self, "task", "trash_ball", "House task loaded at start-up", choices=tuple(HOUSE_TASKS)
        )
        seed = declare(self, "seed", 0, "Seed of the start-up scene", minimum=0)
        perturbation = declare(
            self, "perturbation", "none", "Perturbation axis of the start-up scene", choices=PERTURBATIONS
        )
        width = declare(self, "image_width", 640, "Camera image width, pixels", minimum=32, maximum=1920)
        height = declare(self, "image_height", 480, "Camera image height, pixels", minimum=32, maximum=1080)
        timeout = declare(
            self,
            "cmd_vel_timeout",
            0.5,
            "Seconds (sim time) without a cmd_vel message after which the base stops (a watchdog)",
            minimum=0.05,
            maximum=10.0,
        )
        grasp_force = declare(
            self,
            "grasp_force",
            20.0,
            "Push (N) of the finger servo for a gripper goal whose max_effort is 0; capped at 40 N",
            minimum=1.0,
            maximum=40.0,
        )
        depth = declare(
            self,
            "depth_encoding",
            "32FC1",
            "Depth image encoding: 32FC1 (metres) or 16UC1 (millimetres)",
            choices=DEPTH_ENCODINGS,
        )
        tf_rate = declare(
            self,
            "tf_rate",
            20.0,
            "Rate of /tf (moving joints and odom -> base_link), Hz (sim time); 0 = with every joint_states "
            "message. Each camera image also gets /tf at its own instant",
            minimum=0.0,
            maximum=1000.0,
        )
        self.world = MobileWorld(
            ROBOT,
            world,
            task=task,
            seed=seed,
            perturbation=perturbation,
            width=width,
            height=height,
            cmd_vel_timeout=timeout,
            grasp_force=grasp_force,
        )
        profile = self.world.profile
        assert profile.base is not None
        self.base = profile.base
        self.frames = (profile.fixed_frame, profile.base.odom_frame, profile.base_frame)
        config = _runner_config(self, profile.camera_names)
        group = ReentrantCallbackGroup()
        self.clock_pub = self.create_publisher(Clock, "/clock", STATE_QOS)
        self.joint_pub = self.create_publisher(JointState, "joint_states", STATE_QOS)
        self.odom_pub = self.create_publisher(Odometry, "odom", STATE_QOS)
        self.cameras = CameraTopics(self, profile, depth)
        self.description_pub = self.create_publisher(String, "/robot_description", LATCHED_QOS)
        self.description_pub.publish(String(data=robot_description(profile)))
        self.tf = TfPublisher(self, RobotTransforms(profile), tf_rate)
        fixed, odom, _ = self.frames
        self.tf.publish_static(
            self.world.model, self.world.data, self.world.time, cell=[FrameTransform(fixed, odom, *IDENTITY)]
        )
        self.world.on_watchdog = lambda: self.get_logger().info(
            f"no cmd_vel for {timeout:g} s: stopping the base"
        )
        outputs = Outputs(
            clock=lambda now: self.clock_pub.publish(Clock(clock=seconds_to_time(now))),
            joint_state=self.publish_joint_state,
            frame=self.publish_frame,
            wants_camera=self.cameras.watched,
            alive=self.context.ok,
            crashed=self.on_physics_crash,
        )
        self.runner = PhysicsRunner(self.world, config, outputs, moving=self.world.base_moving)
        self.controllers = SimControllers(self, self.world, self.runner, group)
        self.create_subscription(Twist, "cmd_vel", self.on_cmd_vel, STATE_QOS)
        # reset_scene, get_task_progress, get_segmentation and the scene topic, as the Franka sim serves them
        self.scene = SceneServices(
            self,
            self.world,
            self.runner,
            group,
            tasks=tuple(HOUSE_TASKS),
            perturbations=PERTURBATIONS,
            view=self.world.ground_truth,
            default_camera=profile.detection_camera,
        )
        self.vendor = serve_vendor_protocols(self, self.world, self.runner)  # the real drivers' protocols
        self.runner.start()
        self.scene.publish_scene()
        x, y, _ = self.world.robot.pose()
        info = self.world.info
        self.get_logger().info(
            f"sim ready: {ROBOT} in the {world} at ({x:.2f}, {y:.2f}), task {info.task} (seed {info.seed}, "
            f"{info.perturbation}): {info.instruction!r}"
        )

    def close(self) -> None:
        self.runner.stop()
        if self.vendor is not None:
            self.vendor.close()

    def on_physics_crash(self, error: BaseException) -> None:
        """A dead physics thread leaves nothing to serve: exit, so the launcher can respawn the node."""
        self.get_logger().fatal(f"the physics thread failed ({error!r}); shutting the sim node down")
        self.context.try_shutdown()

    # -- commands (the spinning thread: never blocks) ---------------------------------------------
    def on_cmd_vel(self, message: Twist) -> None:
        v, w = message.linear, message.angular
        try:
            command = clamp_twist(self.base, (v.x, v.y, v.z), (w.x, w.y, w.z))
            self.runner.submit(lambda: self.world.command_velocity(command.linear, command.angular))
        except MaestroError as exc:
            self.get_logger().warning(f"cmd_vel refused: {exc}", throttle_duration_sec=2.0)
            return
        if command.notes:
            self.get_logger().warning(f"cmd_vel: {'; '.join(command.notes)}", throttle_duration_sec=2.0)

    # -- publishing (the physics thread) ------------------------------------------------------------
    def _base_transform(self, state: BaseState) -> FrameTransform:
        _, odom, base = self.frames
        position, quaternion = (float(v) for v in state.position), (float(v) for v in state.quaternion)
        return FrameTransform(odom, base, tuple(position), tuple(quaternion))  # type: ignore[arg-type]

    def publish_joint_state(
        self, now: float, names: list[str], position: np.ndarray, velocity: np.ndarray, effort: np.ndarray
    ) -> None:
        stamp = seconds_to_time(now)
        _, odom, base = self.frames
        body = self.world.body
        if body.joints:  # the body posture's virtual joints, measured (body_controller's state)
            names = [*names, *body.joints]
            position = np.concatenate([position, body.positions()])
            velocity, effort = np.append(velocity, [0.0, 0.0]), np.append(effort, [0.0, 0.0])
        self.joint_pub.publish(
            JointState(
                header=Header(stamp=stamp, frame_id=base),
                name=names,
                position=position.tolist(),
                velocity=velocity.tolist(),
                effort=effort.tolist(),
            )
        )
        state = self.world.base_state()
        message = Odometry(header=Header(stamp=stamp, frame_id=odom), child_frame_id=base)
        pose, twist = message.pose.pose, message.twist.twist
        pose.position.x, pose.position.y, pose.position.z = (float(v) for v in state.position)
        q = pose.orientation
        q.w, q.x, q.y, q.z = (float(v) for v in state.quaternion)
        twist.linear.x, twist.linear.y, twist.linear.z = (float(v) for v in state.linear)
        twist.angular.x, twist.angular.y, twist.angular.z = (float(v) for v in state.angular)
        self.odom_pub.publish(message)  # ground truth: covariances left zero
        self.tf.publish(now, names, position, extra=[self._base_transform(state)])

    def publish_frame(self, camera: str, frame: Frame, intrinsics: np.ndarray, pose: np.ndarray) -> None:
        """The camera's images after /tf at the render's instant (a lookup at the image stamp is exact)."""
        names, positions, _, _ = self.world.joint_state()
        extra = [self._base_transform(self.world.base_state())]
        self.tf.publish(frame.time, names, positions, force=True, extra=extra)
        self.cameras.publish(camera, frame, intrinsics)


def main(args: Sequence[str] | None = None) -> int:
    return run_node(MobileSimNode, args)


if __name__ == "__main__":
    sys.exit(main())
