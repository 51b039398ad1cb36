"""The mobile manipulator simulation (no ROS): skid-steer drive, the wheeled robot runtime, the house."""
