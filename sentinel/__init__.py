"""Sentinel: security posture and national crypto-compliance scanner."""

__version__ = "0.1.0"
