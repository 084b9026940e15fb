"""The kernel side: magics, IPython hooks and the ipywidgets panel (the only IPython/ipywidgets users)."""
