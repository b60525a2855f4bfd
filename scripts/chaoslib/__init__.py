"""scripts/chaos.py's parts: the fleet under test, its customers and agent, the faults,
and the final accounting."""
