"""``superres serve``: a local web app (Gradio, ``pip install "superres[web]"``).

:mod:`superres.web.jobs` holds the work, free of any web framework;
:mod:`superres.web.app` builds the page and runs the server.
"""
