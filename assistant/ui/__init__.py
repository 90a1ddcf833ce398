"""The Chainlit chat UI: the only package that imports Chainlit.

``launch.run_ui`` starts the server for ``app.py``; the other modules are small and named
by role: ``render`` draws engine events, ``approvals`` asks the person, ``conversation``
runs one thread, ``datalayer`` and ``files`` keep the history, ``auth`` signs people in.
"""
