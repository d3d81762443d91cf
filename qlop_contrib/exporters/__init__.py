"""Bundled exporters plugins."""
