"""``python -m dyt.train [key=value ...]``: the training entry point (``dyt.run.cli``), kept at its documented name."""

from dyt.run.cli import main

if __name__ == "__main__":
    main()
