"""QoS profiles used across Maestro's topics."""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

# Images and depth: RELIABLE, because Fast DDS drops best-effort samples larger than its 512 KB
# shared-memory segment (a 640x480 rgb8 frame is 921 KB). Shallow history keeps latency low.
IMAGE_QOS = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)

# Joint states and other small, frequent state topics.
STATE_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)

# Latched descriptions (robot description, camera info, scene metadata): late joiners get the last one.
LATCHED_QOS = QoSProfile(
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
    history=HistoryPolicy.KEEP_LAST,
)
