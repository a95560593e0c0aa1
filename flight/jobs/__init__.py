"""Compute jobs run on board, and the checks that keep their results honest under radiation."""
