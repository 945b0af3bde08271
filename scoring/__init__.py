"""Customer-success scoring: the shared core of the app and the command line.

Data flows one way: storage (``store``, ``state``, ``ingest``, ``demo``) feeds the math and the
views, which feed the pages and the command line. Nothing in this package imports Streamlit.
"""
__version__ = "0.1.0"
