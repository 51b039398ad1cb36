"""Evaluation: sweeps of simulated trials and their reports.

sweep (one graph, one trial: SimGraph, run_trial), spec (sweep specs, configurations, batches), worker (a
batch on one graph in one ROS domain), executor (Executor; LocalPool), run (`maestro eval`), results (the
JSONL results file), report + figure + page (`maestro report`).
"""
