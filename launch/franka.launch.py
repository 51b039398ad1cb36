"""ros2 launch maestro franka.launch.py [sim:=true] [task:=ball_in_bowl] ...

The Franka Panda graph, from config/bringup/franka.yaml (the same spec `maestro launch franka` runs).
vla:=warp adds the warp policy server (demonstrations from vla_demos:=DIR) and the vla_bridge, and gives
the agent its vla tool; vla:=ws://host:port starts only the bridge, pointed at that policy server.
"""

from maestro_agent.bringup.ros_launch import generate_launch_description as _generate


def generate_launch_description():  # noqa: ANN201
    return _generate("franka")
