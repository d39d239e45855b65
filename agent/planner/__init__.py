"""Planners: the symbolic oracle (recipe graph) now; LLM backends behind one interface next."""
