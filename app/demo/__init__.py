"""The demo brand: a catalogue across the seed's sectors, tagged on random demo keys."""
