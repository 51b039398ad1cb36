"""Real-robot drivers as ROS 2 nodes at the vendors' SDK boundary (go2w_driver: unitree_sdk2py; piper_driver:
piper_sdk over CAN). The same nodes run against the robot or against the simulation, which serves the
vendors' protocols (``maestro_tools.sim.mobile.vendor``); only the network interface, DDS domain and CAN
bus differ. The ROS-free halves (unit conversions, state decoding) sit beside the nodes."""
