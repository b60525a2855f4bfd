"""Who the customer is: web session tokens and verified phones."""
