"""Ingest: fetch each image's origin, make what is served of it, in immediate or batch mode.

The web app sets it up through :func:`app.ingest.queue.init_app`; this package's own import
loads nothing, so that the processes that decode origins load only :mod:`app.ingest.decode`.
"""
