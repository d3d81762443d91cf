"""QLOP live."""
