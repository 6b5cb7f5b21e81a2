"""Journeys: the fact a verified tap becomes, and (later) the marketer's language around it."""
