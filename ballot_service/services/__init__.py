"""Services: load rows, apply the rules in domain/, persist. Views and CLI call these."""
