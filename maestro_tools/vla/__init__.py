"""The VLA bridge: run a learned policy served over the openpi WebSocket protocol until a monitor says the
subtask is done. ROS-free parts: the wire codec (``protocol``), a client and a server (``client``,
``server``), the robot <-> policy mappings (``mapping``) and the done monitor (``monitor``); ``node`` is
the thin ``vla_bridge`` node serving ``maestro_msgs/action/RunPolicy``."""
