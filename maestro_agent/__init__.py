"""Maestro's agent: the VLM loop, the client proxy, the sandbox, and the ``maestro`` command."""
