"""ros2 launch maestro go2w_piper.launch.py [sim:=true] [navigation:=maestro|nav2] ...

The Unitree Go2-W + AgileX PiPER graph, from config/bringup/go2w_piper.yaml (the same spec
`maestro launch go2w_piper` runs). navigation:=nav2 starts nav2_adapter instead of the navigation
node; nav2 itself (nav2_bringup's navigation_launch.py) is launched separately.
"""

from maestro_agent.bringup.ros_launch import generate_launch_description as _generate


def generate_launch_description():  # noqa: ANN201
    return _generate("go2w_piper")
