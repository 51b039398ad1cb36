"""Build a ROS 2 LaunchDescription from a bringup spec (stock ROS installs with launch_ros).

``launch/franka.launch.py`` is one line over this module, so ``ros2 launch maestro franka.launch.py``
and ``maestro launch franka`` start the same graph from the same spec.
"""

from __future__ import annotations

from typing import Any

from maestro_agent.bringup.launcher import spec_for
from maestro_agent.bringup.paths import share_dir
from maestro_agent.bringup.spec import ResolvedNode, resolve


def node_kwargs(node: ResolvedNode) -> dict[str, Any]:
    """Keyword arguments of ``launch_ros.actions.Node`` for one resolved node."""
    return {
        "package": node.package,
        "executable": node.executable,
        "name": node.name,
        "namespace": node.namespace,
        "parameters": [*(str(f) for f in node.param_files), dict(node.parameters)],
        "remappings": list(node.remappings),
        "arguments": list(node.arguments),
        "respawn": node.respawn,
        "respawn_delay": node.respawn_delay,
        "output": "screen",
        "emulate_tty": True,
    }


def generate_launch_description(robot: str):  # noqa: ANN201 - launch.LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction, Shutdown
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    from launch import LaunchDescription

    spec = spec_for(robot)

    def nodes(context: Any) -> list[Any]:
        values = {a.name: LaunchConfiguration(a.name).perform(context) for a in spec.arguments}
        actions = []
        for node in resolve(spec, values, share_dir()):
            kwargs = node_kwargs(node)
            if node.required:
                kwargs["on_exit"] = Shutdown(reason=f"required node {node.name} exited")
            actions.append(Node(**kwargs))
        return actions

    declarations = [
        DeclareLaunchArgument(
            a.name,
            default_value=a.default,
            description=a.description,
            **({"choices": list(a.choices)} if a.choices else {}),
        )
        for a in spec.arguments
    ]
    return LaunchDescription([*declarations, OpaqueFunction(function=nodes)])
