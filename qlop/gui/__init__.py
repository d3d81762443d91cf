"""QLOP's Streamlit GUI (``qlop gui``): configure, launch and watch runs live, explore results.

- ``app.py``: the Streamlit entry point and page navigation; ``views/``: one module per page.
- ``forms.py``: widgets generated from a params model's JSON Schema.
- ``configs.py``: validation of form/pasted configs, exactly as ``qlop config validate``.
- ``launcher.py``: ``qlop run`` subprocesses streaming to the relay, and their cancellation.
- ``subscriber.py``: the background relay subscriber; ``live.py``: events -> what the live panel draws.
- ``results.py``: a run's view for the Runs page (the report's: :func:`qlop.report_data.run_view`), and
  what only the page adds (trade filters, model details, downloads).

Nothing here is imported by ``qlop --help``; Streamlit is only imported by the app process.
"""
