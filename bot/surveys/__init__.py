"""Return visits (每案必访): every resolution of a ticket gets one survey in the customer's
conversation (web chat or SMS), asked through Rasa, with one reminder; answers are stored
on the ticket and low ones reopen it."""
