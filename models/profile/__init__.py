"""Profile: does a grid of photos hold one visual concept? From "InstaVis Checker"
(../shared/seeds/000). Its models arrive with the Profile tab's issue."""
