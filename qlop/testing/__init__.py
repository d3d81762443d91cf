"""QLOP's test kit for plugin authors: fixtures (pytest11 plugin ``qlop``) and contract test classes."""
