"""Controller job: observer instructions -> factory commands (optimise, retrain) and engine syncs."""
