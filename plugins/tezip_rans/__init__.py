"""The ``tezip.rans`` stage: spatial prediction on the code grid and context-modelled rANS."""
