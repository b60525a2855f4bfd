"""Human handoff: the queue, its state machine, wait estimates, and the agents' operations.

The Rasa action (actions/handoff.py) calls HandoffService.request(); the desk's console
(bot/desk/console/) uses HandoffStore and AgentOps. All state lives in Redis.
"""
