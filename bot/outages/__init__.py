"""Outages: the registry (Redis, the system of record), its desk API and console page, and
the probable-outage alerts raised from customers' reports.

The broadcast of each change to customers is bot.notices' job: it consumes the change
stream this package writes (registry.CHANGES) in the same atomic step as the change.
"""
