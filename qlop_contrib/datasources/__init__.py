"""Bundled datasources plugins."""
