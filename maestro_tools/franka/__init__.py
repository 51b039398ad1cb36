"""Real Franka robot adapters (stock ROS installs with franka_ros2)."""
