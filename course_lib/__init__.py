"""Shared library of the deep-learning course."""
