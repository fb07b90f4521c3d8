"""Siap112: emergency dispatch for the 112 call centre of Kabupaten Blitar."""

__version__ = "0.1.0"
