"""Tags: which tags describe this photo, and why each one? From "Social Image Description
Platform" (../shared/seeds/003). Its models arrive with the Tags tab's issue."""
