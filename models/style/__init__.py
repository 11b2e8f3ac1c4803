"""Style: which fashion style is this outfit, and where does the model look? From "evaranks"
(../shared/seeds/002). Its models arrive with the Style tab's issue."""
