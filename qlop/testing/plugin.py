"""pytest11 entry point of the QLOP test kit: fixtures only, no autouse side effects."""
