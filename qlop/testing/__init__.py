"""QLOP testing."""
