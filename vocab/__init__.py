"""The DLCS vocabulary: the one declaration of every class, property and operation.

Pure Python (stdlib and rdflib only): the web app derives its contexts, documentation,
schemas and tables from here, and never defines a term of its own.
"""

from vocab.apidoc import api_documentation
from vocab.context import context, context_url
from vocab.dlcs import BY_NAME, CLASSES, get

__all__ = ["BY_NAME", "CLASSES", "api_documentation", "context", "context_url", "get"]
