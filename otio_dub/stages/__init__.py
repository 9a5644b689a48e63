"""The dub's stages: plan, render, place, deliver (and the unchanged re-dub), each a function of the one before."""
