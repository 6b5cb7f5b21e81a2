"""The checks of a ruleset, one small function per section, each reporting into a ``Context``.

``shapes`` reads the generic shapes (mappings, names, numbers, durations) every section uses;
the other modules are named after the section they check.
"""
