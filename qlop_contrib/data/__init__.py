"""The embedded real OHLCV dataset (see ohlcv/PROVENANCE.md)."""
