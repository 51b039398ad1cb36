"""LIBERO as a robot: its own venv (.venv-libero, `make setup-libero`) and process; see node.py."""
