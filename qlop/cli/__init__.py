"""QLOP's command line. The root (``main.py``) is lazy: subcommand modules load only when run."""
