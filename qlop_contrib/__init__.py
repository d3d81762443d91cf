"""Plugins bundled with QLOP, loaded through the same hooks as third-party ones."""
