"""Custom NLU graph components referenced from config.yml."""
