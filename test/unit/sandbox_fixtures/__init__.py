"""Setup functions for the sandbox tests (imported inside the sandbox child)."""
