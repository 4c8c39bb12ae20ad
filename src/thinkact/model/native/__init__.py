"""The decode step in C (``decode_step.c``), compiled on first use; see ``decoder.py``."""
