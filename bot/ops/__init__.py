"""Observability shared by the desk, Rasa and the action server: Prometheus metrics
(`metrics`, `gauges`, `exposition`), health and readiness (`health`), JSON logs with the
turn's conversation id (`logs`, `context`), and Rasa's side of them (`turns`, `channel`).

Metric names start with `kefu_`; labels are bounded sets (channel, action, status), never a
conversation id or a phone number.
"""
