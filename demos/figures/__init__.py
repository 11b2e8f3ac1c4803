"""Pictures drawn from the numbers models/ returns: one module per task."""
