"""Evaluation suites: tasks with targets, scored from what the agent returned or wrote."""
