"""Evaluation: sweeps of simulated trials over tasks, perturbation axes and seeds."""
