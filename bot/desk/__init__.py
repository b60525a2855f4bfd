"""Desk service (aiohttp): the demo website with the chat widget.

Later issues add the agent console, the ticket API and the outbox sender here.
"""
