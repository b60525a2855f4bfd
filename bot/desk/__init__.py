"""Desk service (aiohttp, `python -m bot.desk`): the demo website with the chat widget, the
agent console, the ticket API, the outbox API and Twilio's status callbacks, and the
background workers (bot/tasks.py). app.py composes them; each package adds its own routes
and workers through its setup(app).
"""
