"""QLOP gui."""
