"""SMS through Twilio: signed inbound webhooks, one durable outbox, a sender worker.

channel (Rasa process) -> outbox (Redis) -> sender (desk process) -> Twilio or the local sink.
"""
