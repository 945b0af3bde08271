"""The Streamlit side of the app: the shared page frame, the data source and small render helpers.

Only ``app.py``, ``pages/`` and this package import Streamlit; the ``scoring`` core never does, so
the command line and scheduled jobs run without it. Pages call ``ui.frame.frame`` once and then
the core's query functions through ``page.query``; nothing here computes a number on screen.
"""
