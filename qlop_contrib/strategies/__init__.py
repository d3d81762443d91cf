"""Bundled strategies plugins."""
