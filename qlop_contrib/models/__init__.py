"""Bundled models plugins."""
