"""The simulated Go2-W + PiPER speaking its vendors' protocols on this machine only, so the real drivers
(``maestro_tools.drivers``) are tested unchanged: Unitree sport-mode DDS on loopback (``unitree_sport``) and
the PiPER's CAN frames on a socketcand-protocol TCP server on 127.0.0.1 (``piper_can``). ``hook`` wires them
into the sim node behind its ``vendor_protocols`` parameter."""
