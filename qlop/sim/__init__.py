"""QLOP sim."""
