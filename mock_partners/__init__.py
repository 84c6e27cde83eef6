"""Mock partner nodes (EU member states, Europol, Interpol) for reproducible drills."""
