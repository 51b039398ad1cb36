"""The sim node's ``vendor_protocols`` switch: its parameters, and the vendor servers fed from the physics
thread. The SDKs are imported only when it is on, so the sim runs without them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rclpy.node import Node

from maestro_tools.common.params import declare

if TYPE_CHECKING:
    from maestro_tools.sim.mobile.world import MobileWorld
    from maestro_tools.sim.runner import PhysicsRunner


class VendorProtocols:
    """The Unitree sport service and the PiPER's CAN firmware of one sim node, fed with every joint-state
    instant of the physics thread."""

    def __init__(self, servers: list[Any]) -> None:
        self.servers = servers

    def publish(self, now: float) -> None:
        for server in self.servers:
            server.publish(now)

    def close(self) -> None:
        for server in self.servers:
            server.close()


def serve_vendor_protocols(node: Node, world: MobileWorld, runner: PhysicsRunner) -> VendorProtocols | None:
    """Declare the parameters; when ``vendor_protocols`` is on, start the servers and chain their state
    output after the node's joint-state output (call before ``runner.start()``)."""
    enabled = declare(
        node,
        "vendor_protocols",
        False,
        "Also serve the vendors' protocols on this machine for the real drivers: Unitree sport DDS on "
        "loopback and the PiPER's CAN frames over socketcand on 127.0.0.1",
    )
    domain = declare(
        node,
        "unitree_dds_domain",
        1,
        "DDS domain id of the simulated Unitree SDK interface (cyclonedds on loopback); keep it apart from "
        "ROS_DOMAIN_ID",
        minimum=0,
        maximum=232,
    )
    port = declare(
        node,
        "piper_can_port",
        29536,
        "TCP port on 127.0.0.1 of the simulated PiPER's CAN bus (socketcand protocol); 0 = no CAN",
        minimum=0,
        maximum=65535,
    )
    channel = declare(node, "piper_can_channel", "can0", "CAN channel name the socketcand server offers")
    if not enabled:
        return None
    log = node.get_logger()
    from maestro_tools.sim.mobile.vendor.unitree_sport import SimSportService

    servers: list[Any] = [SimSportService(world, runner, domain, log=lambda text: log.warning(text))]
    if port:
        from maestro_tools.sim.mobile.vendor.piper_can import SimPiperFirmware

        servers.append(SimPiperFirmware(world, runner, port, channel, log=lambda text: log.warning(text)))
    vendor = VendorProtocols(servers)
    previous: Callable[..., None] = runner.outputs.joint_state

    def joint_state(now: float, *state: Any) -> None:
        previous(now, *state)
        vendor.publish(now)

    runner.outputs.joint_state = joint_state
    log.info(
        f"vendor protocols: Unitree sport DDS on lo, domain {domain}"
        + (f"; PiPER CAN (socketcand) on 127.0.0.1:{port} channel {channel}" if port else "")
    )
    return vendor
