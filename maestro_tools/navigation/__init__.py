"""Navigation: a local occupancy grid from depth, grid paths, a skid-steer follower and the node."""
