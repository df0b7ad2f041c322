"""Pure data: phases, manifests, configuration, steps. No I/O, no drivers."""
