"""Shared pieces of every module node: errors, conversions, parameters, the node entry point."""
