"""The ``libero`` sim node: a LIBERO task scene behind the robot interface the Franka sim serves.

Run by ``libero_sim_node`` under ``.venv-libero`` (``make setup-libero``; launcher.py). Imports only
what runs under numpy 1.26 / mujoco 2.3.7: rclpy, the messages, ``maestro_tools.common``, the ``libero``
robot profile (its joint and frame names) and this package. Sets MUJOCO_GL=egl when unset (headless).
One thread owns LIBERO (runner.py).
- Arm ``arm_controller/follow_joint_trajectory`` (FollowJointTrajectory), gripper
  ``gripper_controller/gripper_cmd`` (GripperCommand: ``position`` is one finger's, half the opening).
- ``joint_states`` (the profile's arm and finger joints) and /clock every 20 Hz step (sim time).
- ``scene_camera/`` (LIBERO agentview) and ``wrist_camera/`` (robot0_eye_in_hand): colour rgb8, depth
  32FC1 metres, camera_info; upright; rendered only while subscribed, at ``camera_rate`` (sim time).
- TF (tf_frames.py): world -> base (the robot's base in LIBERO's world), the arm's links, the cameras.
- ``reset_scene`` (task ``<suite>/<index>``, seed = initial state, perturbation = LIBERO-PRO variant),
  ``get_task_progress`` (BDDL goal predicates; 100 on LIBERO's success), ``get_segmentation``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

os.environ.setdefault("MUJOCO_GL", "egl")

from maestro_tools.sim.libero.suites import check_install

try:
    check_install()
except ImportError as _missing:  # a clean message, not a traceback
    print(f"libero_sim_node: {_missing}", file=sys.stderr)
    sys.exit(2)

from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import (
    CameraInfo,
    Image,
    JointState,
)
from std_msgs.msg import Header

from maestro_msgs.msg import TaskStage
from maestro_msgs.srv import GetSegmentation, GetTaskProgress, ResetScene
from maestro_tools.common.conversions import (
    intrinsics_to_camera_info,
    matrix_to_pose,
    numpy_to_image,
    seconds_to_time,
)
from maestro_tools.common.errors import ErrorCode
from maestro_tools.common.node_main import run_node
from maestro_tools.common.params import declare
from maestro_tools.common.qos import IMAGE_QOS, LATCHED_QOS, STATE_QOS
from maestro_tools.robots.libero import LIBERO
from maestro_tools.sim.libero.controllers import LiberoControllers
from maestro_tools.sim.libero.runner import Outputs, SimThread
from maestro_tools.sim.libero.suites import PERTURBATIONS, TASKS, LiberoTaskError, parse_task
from maestro_tools.sim.libero.tf_frames import OPTICAL, TfFrames
from maestro_tools.sim.libero.world import LiberoWorld

assert LIBERO.arm is not None and LIBERO.gripper is not None
JOINTS = LIBERO.arm.joints + LIBERO.gripper.finger_joints  # joint_states order: arm, then fingers


class LiberoNode(Node):
    def __init__(self) -> None:
        super().__init__("sim")
        suite = declare(self, "suite", "libero_object", "LIBERO suite loaded at start-up")
        task = declare(self, "task", 0, "Task index in the suite", minimum=0, maximum=9)
        init = declare(self, "init", 0, "Initial state index of the task", minimum=0)
        perturbation = declare(
            self, "perturbation", "none", "LIBERO-PRO variant of the task", choices=tuple(PERTURBATIONS)
        )
        size = declare(self, "image_size", 256, "Camera image width and height, px", minimum=64, maximum=1024)
        rtf = declare(self, "real_time_factor", 1.0, "Sim seconds per wall second; 0 = as fast as possible")
        camera_rate = declare(self, "camera_rate", 5.0, "Rate of each subscribed camera, Hz (sim time)")
        ref = parse_task(f"{suite}/{task}", init, perturbation)
        group = ReentrantCallbackGroup()
        self.clock_pub = self.create_publisher(Clock, "/clock", STATE_QOS)
        self.joint_pub = self.create_publisher(JointState, "joint_states", STATE_QOS)
        self.cams = {
            name: (
                self.create_publisher(Image, f"{name}_camera/color/image_raw", IMAGE_QOS),
                self.create_publisher(CameraInfo, f"{name}_camera/color/camera_info", STATE_QOS),
                self.create_publisher(Image, f"{name}_camera/depth/image_raw", IMAGE_QOS),
                self.create_publisher(CameraInfo, f"{name}_camera/depth/camera_info", STATE_QOS),
            )
            for name in OPTICAL
        }
        self.tf = TfFrames(self)
        self.scene_pub = self.create_publisher(ResetScene.Response, "scene", LATCHED_QOS)
        outputs = Outputs(self.on_step, self.on_frame, self.watched, self.on_crash)
        self.sim = SimThread(lambda: LiberoWorld(ref, size, size), outputs, rtf, camera_rate)
        self.get_logger().info(f"starting LIBERO {ref.benchmark_suite} task {ref.index} init {ref.init}")
        self.sim.start()
        self.sim.call(lambda: self.tf.publish_static(self.sim._world))
        self.controllers = LiberoControllers(self, self.sim, group)
        self.create_service(ResetScene, "reset_scene", self.on_reset, callback_group=group)
        self.create_service(GetTaskProgress, "get_task_progress", self.on_progress, callback_group=group)
        self.create_service(GetSegmentation, "get_segmentation", self.on_segmentation, callback_group=group)
        self.publish_scene()
        self.get_logger().info(f"LIBERO ready: {self.sim._world.instruction!r}")

    def close(self) -> None:
        sim = self.sim
        sim.stop()
        if sim.steps:
            line = f"{sim.steps} steps, {sim.step_seconds / sim.steps * 1000:.1f} ms each"
            if sim.renders:
                line += f"; {sim.renders} renders, {sim.render_seconds / sim.renders * 1000:.0f} ms each"
            self.get_logger().info(line)

    def on_crash(self, error: BaseException) -> None:
        self.get_logger().fatal(f"the LIBERO thread failed ({error!r}); shutting the node down")
        self.context.try_shutdown()

    # -- sim thread callbacks ------------------------------------------------------------------------
    def on_step(self, world: LiberoWorld) -> None:
        stamp = seconds_to_time(world.time)
        self.clock_pub.publish(Clock(clock=stamp))
        arm, velocity, fingers = world.joints()
        self.joint_pub.publish(
            JointState(
                header=Header(stamp=stamp, frame_id=LIBERO.base_frame),
                name=list(JOINTS),
                position=[*arm.tolist(), *fingers.tolist()],
                velocity=[*velocity.tolist(), 0.0, 0.0],
            )
        )
        self.tf.publish(world)

    def watched(self, camera: str) -> bool:
        color, _, depth, _ = self.cams[camera]
        return color.get_subscription_count() + depth.get_subscription_count() > 0

    def on_frame(self, world: LiberoWorld, camera: str) -> None:
        rgb, depth = world.render(camera)
        header = Header(stamp=seconds_to_time(world.time), frame_id=OPTICAL[camera])
        info = intrinsics_to_camera_info(world.intrinsics(camera), rgb.shape[1], rgb.shape[0], header)
        color_pub, color_info, depth_pub, depth_info = self.cams[camera]
        color_pub.publish(numpy_to_image(rgb, "rgb8", header))
        color_info.publish(info)
        depth_pub.publish(numpy_to_image(depth, "32FC1", header))
        depth_info.publish(info)

    # -- services ------------------------------------------------------------------------------------
    def _fail(self, response, exc: Exception):  # noqa: ANN001, ANN202 - any of the three responses
        code = ErrorCode.INVALID_ARGUMENT if isinstance(exc, LiberoTaskError) else ErrorCode.BACKEND_ERROR
        response.success, response.error_code = False, int(code)
        response.message = f"{type(exc).__name__}: {exc}" if code == ErrorCode.BACKEND_ERROR else str(exc)
        return response

    def publish_scene(self, response: ResetScene.Response | None = None) -> None:
        world = self.sim._world
        response = response or ResetScene.Response(success=True)
        response.task, response.instruction = world.ref.name if world.ref else "", world.instruction
        response.objects = world.objects
        response.available_tasks, response.available_perturbations = list(TASKS), list(PERTURBATIONS)
        self.scene_pub.publish(response)

    def on_reset(self, request: ResetScene.Request, response: ResetScene.Response) -> ResetScene.Response:
        response.available_tasks, response.available_perturbations = list(TASKS), list(PERTURBATIONS)
        try:
            current = self.sim._world.ref
            ref = parse_task(request.task or current.name, int(request.seed), request.perturbation or "none")

            def reset() -> None:
                self.sim.preempt("the scene was reset")
                self.sim._world.reset(ref)
                self.tf.publish_static(self.sim._world)

            self.sim.call(reset, timeout=900.0)
        except Exception as exc:
            return self._fail(response, exc)
        response.success = True
        response.message = f"reset {ref.benchmark_suite} task {ref.index} (init {ref.init})"
        self.publish_scene(response)
        self.get_logger().info(f"{response.message}: {response.instruction!r}")
        return response

    def on_progress(
        self, request: GetTaskProgress.Request, response: GetTaskProgress.Response
    ) -> GetTaskProgress.Response:
        try:
            score, stages = self.sim.call(lambda: self.sim._world.progress())
        except Exception as exc:
            return self._fail(response, exc)
        response.success, response.task, response.progress = True, self.sim._world.ref.name, score
        response.stages = [TaskStage(name=s.name, points=float(s.points), reached=s.reached) for s in stages]
        return response

    def on_segmentation(
        self, request: GetSegmentation.Request, response: GetSegmentation.Response
    ) -> GetSegmentation.Response:
        camera = request.camera or "scene"

        def view():  # noqa: ANN202
            world = self.sim._world
            rgb, depth = world.render(camera)
            pose = self.tf.in_base(world, world.camera_pose(camera))
            return world, rgb, depth, world.segmentation(camera), world.intrinsics(camera), pose

        try:
            world, rgb, depth, instances, intrinsics, pose = self.sim.call(view)
        except Exception as exc:
            return self._fail(response, exc)
        header = Header(stamp=seconds_to_time(world.time), frame_id=OPTICAL[camera])
        response.segmentation = numpy_to_image(instances, "32SC1", header)
        response.image = numpy_to_image(rgb, "rgb8", header)
        response.depth = numpy_to_image(depth, "32FC1", header)
        response.camera_info = intrinsics_to_camera_info(intrinsics, rgb.shape[1], rgb.shape[0], header)
        response.camera_pose = matrix_to_pose(pose)
        response.instance_ids = list(range(1, len(world.instance_names)))
        response.instance_labels = world.objects
        response.success = True
        return response


def main(args: Sequence[str] | None = None) -> int:
    return run_node(LiberoNode, args)


if __name__ == "__main__":
    sys.exit(main())
