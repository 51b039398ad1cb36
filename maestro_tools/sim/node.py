"""The ``sim`` node: the MuJoCo Franka tabletop behind the same ROS interface as a real robot driver.

Publishes /clock (``clock_rate``, 10 Hz), joint_states (100 Hz while the robot moves, a camera is
watched or a request just ran; ``joint_state_idle_rate``, 10 Hz, while it stands still), and per camera
(scene, wrist) colour rgb8 + depth images (32FC1 metres or 16UC1 millimetres: ``depth_encoding``) with
CameraInfo (RELIABLE QoS), the latched /robot_description (URDF) and TF as robot_state_publisher would
(/tf_static, /tf; tf_publisher.py).
Actions: the arm's and the gripper's controllers as
ros2_control serves them (control_msgs FollowJointTrajectory and GripperCommand; see controllers.py).
Services (scene_services.py, shared with the Go2-W sim): reset_scene, get_task_progress, get_segmentation
(ground truth: instances, named sites), and the latched ``scene`` topic.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Header, String

from maestro_tools.common.conversions import (
    seconds_to_time,
)
from maestro_tools.common.node_main import run_node
from maestro_tools.common.params import declare
from maestro_tools.common.qos import LATCHED_QOS, STATE_QOS
from maestro_tools.robots.description import robot_description
from maestro_tools.sim.camera_topics import DEPTH_ENCODINGS, CameraTopics
from maestro_tools.sim.cameras import Frame
from maestro_tools.sim.controllers import SimControllers
from maestro_tools.sim.ground_truth import render_view
from maestro_tools.sim.runner import Outputs, PhysicsRunner, RunnerConfig
from maestro_tools.sim.scene_services import SceneServices
from maestro_tools.sim.tasks import PERTURBATIONS, TASKS
from maestro_tools.sim.tf_publisher import RobotTransforms, TfPublisher
from maestro_tools.sim.world import SimWorld

BASE_FRAME = "base"


class SimNode(Node):
    def __init__(self) -> None:
        super().__init__("sim")
        task = declare(self, "task", "ball_in_bowl", "Task scene loaded at start-up", choices=tuple(TASKS))
        seed = declare(self, "seed", 0, "Seed of the start-up scene", minimum=0)
        perturbation = declare(
            self, "perturbation", "none", "Perturbation axis of the start-up scene", choices=PERTURBATIONS
        )
        rate = declare(
            self,
            "physics_rate",
            500.0,
            "MuJoCo steps per simulated second",
            minimum=100.0,
            maximum=5000.0,
            read_only=True,
        )
        width = declare(
            self, "image_width", 640, "Camera image width, pixels", minimum=32, maximum=1920, read_only=True
        )
        height = declare(
            self, "image_height", 480, "Camera image height, pixels", minimum=32, maximum=1080, read_only=True
        )
        config = RunnerConfig(
            real_time_factor=declare(
                self,
                "real_time_factor",
                1.0,
                "Simulated seconds per wall second; 0 = as fast as possible",
                minimum=0.0,
                read_only=True,
            ),
            clock_rate=declare(
                self,
                "clock_rate",
                10.0,
                "/clock rate, Hz (sim time): every use_sim_time node wakes for each message; stamps and "
                "sim-time timers need no more",
                minimum=1.0,
                maximum=1000.0,
                read_only=True,
            ),
            joint_state_rate=declare(
                self,
                "joint_state_rate",
                100.0,
                "joint_states rate while the robot moves, a camera is watched or a request just ran, and "
                "1 s (sim time) after, Hz (sim time)",
                minimum=1.0,
                maximum=1000.0,
                read_only=True,
            ),
            joint_state_idle_rate=declare(
                self,
                "joint_state_idle_rate",
                10.0,
                "joint_states rate otherwise (the robot stands still), Hz (sim time)",
                minimum=1.0,
                maximum=1000.0,
                read_only=True,
            ),
            camera_rate=declare(
                self,
                "camera_rate",
                10.0,
                "Rate of each subscribed camera, Hz (sim time); 0 = no streaming",
                minimum=0.0,
                maximum=60.0,
                read_only=True,
            ),
            goal_tolerance=declare(
                self,
                "goal_tolerance",
                0.02,
                "Default per-joint trajectory goal tolerance, rad",
                minimum=0.001,
                maximum=0.5,
                read_only=True,
            ),
        )
        grasp_force = declare(
            self,
            "grasp_force",
            70.0,
            "Squeeze (N) of a gripper goal whose max_effort is 0; goals that name a force get it, capped at "
            "the gripper's max_force (140 N for the Franka Hand)",
            minimum=1.0,
            maximum=140.0,
            read_only=True,
        )
        self.world = SimWorld(
            task, seed, perturbation, width=width, height=height, timestep=1.0 / rate, grasp_force=grasp_force
        )
        group = ReentrantCallbackGroup()
        self.clock_pub = self.create_publisher(Clock, "/clock", STATE_QOS)
        self.joint_pub = self.create_publisher(JointState, "joint_states", STATE_QOS)
        depth_encoding = declare(
            self,
            "depth_encoding",
            "32FC1",
            "Depth image encoding: 32FC1 (metres) or 16UC1 (millimetres, 0 = no reading), as real drivers",
            choices=DEPTH_ENCODINGS,
        )
        self.camera_topics = CameraTopics(self, self.world.profile, depth_encoding)
        tf_rate = declare(
            self,
            "tf_rate",
            10.0,
            "Rate of /tf for the moving joints, Hz (sim time); 0 = with every joint_states message. "
            "Each camera image also gets /tf at its own instant (rclpy listeners pay ~2.5 ms per message)",
            minimum=0.0,
            maximum=1000.0,
        )
        profile = self.world.profile
        self.description_pub = self.create_publisher(String, "/robot_description", LATCHED_QOS)
        self.description_pub.publish(String(data=robot_description(profile)))
        self.tf = TfPublisher(self, RobotTransforms(profile), tf_rate)
        self.tf.publish_static(self.world.model, self.world.data, self.world.time)
        outputs = Outputs(
            clock=self.publish_clock,
            joint_state=self.publish_joint_state,
            frame=self.publish_frame,
            wants_camera=self.wants_camera,
            alive=self.context.ok,
            crashed=self.on_physics_crash,
        )
        self.runner = PhysicsRunner(self.world, config, outputs)
        self.controllers = SimControllers(self, self.world, self.runner, group)
        self.scene = SceneServices(
            self,
            self.world,
            self.runner,
            group,
            tasks=tuple(TASKS),
            perturbations=PERTURBATIONS,
            view=lambda camera: render_view(self.world, camera),
            default_camera="scene",
        )
        self.runner.start()
        self.scene.publish_scene()
        info = self.world.info
        self.get_logger().info(
            f"sim ready: task {info.task} (seed {info.seed}, {info.perturbation}): {info.instruction!r}"
        )

    def close(self) -> None:
        self.runner.stop()

    def on_physics_crash(self, error: BaseException) -> None:
        """A dead physics thread leaves nothing to serve: exit, so the launcher can respawn the node."""
        self.get_logger().fatal(f"the physics thread failed ({error!r}); shutting the sim node down")
        self.context.try_shutdown()

    # -- publishing (called from the physics thread) ----------------------------------------------
    def publish_clock(self, now: float) -> None:
        self.clock_pub.publish(Clock(clock=seconds_to_time(now)))

    def publish_joint_state(
        self, now: float, names: list[str], position: np.ndarray, velocity: np.ndarray, effort: np.ndarray
    ) -> None:
        self.joint_pub.publish(
            JointState(
                header=Header(stamp=seconds_to_time(now), frame_id=BASE_FRAME),
                name=names,
                position=position.tolist(),
                velocity=velocity.tolist(),
                effort=effort.tolist(),
            )
        )
        self.tf.publish(now, names, position)

    def wants_camera(self, camera: str) -> bool:
        return self.camera_topics.watched(camera)

    def publish_frame(self, camera: str, frame: Frame, intrinsics: np.ndarray, pose: np.ndarray) -> None:
        """Colour, depth and camera info at the render's instant, after /tf at that instant (so a
        consumer's TF lookup at the image stamp is exact); ``pose`` is left to TF."""
        names, positions, _, _ = self.world.joint_state()  # the physics thread: the render's instant
        self.tf.publish(frame.time, names, positions, force=True)
        self.camera_topics.publish(camera, frame, intrinsics)


def main(args: Sequence[str] | None = None) -> int:
    return run_node(SimNode, args)


if __name__ == "__main__":
    sys.exit(main())
