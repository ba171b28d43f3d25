"""torch-scaffold: generate PyTorch projects whose train.py is the loop."""

__version__ = "0.2.0.dev0"
