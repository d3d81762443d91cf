"""Bundled labels plugins."""
