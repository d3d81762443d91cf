"""Bundled features plugins."""
