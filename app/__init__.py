"""The DLCS Image API as a Flask app: :func:`app.factory.create_app` builds it.

Importing a module of the app loads only what that module needs: the processes that decode
origins (:mod:`app.ingest.sandbox`) import :mod:`app.ingest.decode` alone, not the web app.
"""
