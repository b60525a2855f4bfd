"""Human handoff: the queue, its state machine, wait estimates, and the agents' operations.

The Rasa action (actions/handoff.py) calls HandoffService.request(); the desk's console
(bot/desk/console/) uses HandoffStore and AgentOps, and each desk process runs the two
handoff workers: sync.py (Rasa's events -> handoffs) and retry.py (hand-backs Rasa has not
confirmed, queue expiry). All state lives in Redis.
"""
