"""Fit presets and real artifact stamps from a user's own damaged/clean pairs or blank-film scans."""
