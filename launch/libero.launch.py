"""ros2 launch maestro libero.launch.py [suite:=libero_object] [task:=0] [init:=0] ...

LIBERO as a robot, from config/bringup/libero.yaml (the same spec `maestro launch libero` runs). The
LIBERO node runs under .venv-libero (`make setup-libero`).
"""

from maestro_agent.bringup.ros_launch import generate_launch_description as _generate


def generate_launch_description():  # noqa: ANN201
    return _generate("libero")
