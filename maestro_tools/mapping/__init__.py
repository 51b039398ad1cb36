"""The semantic map: a persistent object memory in the fixed frame (ROS-free core + the mapper node)."""
