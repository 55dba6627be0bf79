"""Routing policy: the model, conditions, durations, matching and its explanation, the YAML parser
(all pure) and the file loader (the one module here that does IO)."""
