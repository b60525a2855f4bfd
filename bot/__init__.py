"""Kefu: the Rasa-side package (NLU components, channels, event broker) and the desk service."""
