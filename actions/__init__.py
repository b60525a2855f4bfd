"""Kefu custom actions, one module per capability (run with `rasa run actions`)."""
