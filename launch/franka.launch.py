"""ros2 launch maestro franka.launch.py [sim:=true] [task:=ball_in_bowl] ...

The Franka Panda graph, from config/bringup/franka.yaml (the same spec `maestro launch franka` runs).
"""

from maestro_agent.bringup.ros_launch import generate_launch_description as _generate


def generate_launch_description():  # noqa: ANN201
    return _generate("franka")
