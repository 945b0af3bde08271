"""Browser journeys: real people's paths through the app, in Debian's chromium (see conftest.py)."""
