"""Loaders for the real benchmark scenes in the shared data folder (never shipped)."""
