"""Capture: environment, git, RNG fingerprints, variable hashes and files read.

Core modules: no IPython, tornado or ipywidgets imports here.
"""
