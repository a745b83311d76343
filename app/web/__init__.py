"""The HTTP representation: JSON-LD, negotiation, errors, links, schemas, RDF, console, caching.

Authentication (API keys, the tenancy rule) is here too: it reads the request's headers.
"""
