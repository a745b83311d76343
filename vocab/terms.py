"""Namespaces of the terms the DLCS vocabulary is built from.

Hydra Core terms come from the W3C Hydra Community Group draft
(http://www.w3.org/ns/hydra/core#); only the terms this API uses are listed, in a
closed namespace, so a misspelt term fails at import instead of producing a dangling IRI.
The DLCS vocabulary itself lives at ``{base}/vocab#``, relative to the serving host,
so it is not an rdflib namespace here: see :func:`vocab_iri`.
"""

from rdflib.namespace import OWL, RDF, RDFS, XSD, ClosedNamespace

HYDRA = ClosedNamespace(
    uri="http://www.w3.org/ns/hydra/core#",
    terms=[
        "ApiDocumentation",  # the documentation resource served at /vocab
        "Class",  # a class the API documents
        "Collection",  # a set of resources, paged through views
        "Error",  # the type of every error body
        "IriTemplate",  # an RFC 6570 template, for collection search
        "IriTemplateMapping",  # binds a template variable to a property
        "Link",  # a property whose values are dereferenceable links
        "Operation",  # an HTTP operation a class or link supports
        "PartialCollectionView",  # one page of a collection
        "Resource",  # a dereferenceable resource
        "Status",  # a documented HTTP status of an operation
        "StatusCodeDescription",  # the older name of Status, still read by HydraConsole
        "SupportedProperty",  # a property as a class supports it
        "apiDocumentation",  # the rel of the Link header pointing at /vocab
        "code",  # the older name of statusCode
        "description",  # a human-readable description
        "entrypoint",  # the documentation's main entry point
        "expects",  # the class an operation expects as its body
        "first",  # the first page of a view
        "freetextQuery",  # a free text search variable
        "last",  # the last page of a view
        "limit",  # the number of members in a page
        "mapping",  # the mappings of an IriTemplate
        "member",  # a member of a collection
        "memberAssertion",  # what members of a collection have in common
        "method",  # the HTTP method of an operation
        "next",  # the next page of a view
        "object",  # the object of a member assertion
        "pageIndex",  # the 1-based number of a page
        "possibleStatus",  # a status an operation can answer with
        "previous",  # the previous page of a view
        "property",  # the property of a SupportedProperty or mapping
        "readable",  # whether clients can read a property
        "readonly",  # the pre-2014 spelling of "not writable", read by HydraConsole
        "required",  # whether a property or variable must be given
        "returns",  # the class an operation returns
        "search",  # the IriTemplate of a collection's filters
        "statusCode",  # an HTTP status code
        "statusCodes",  # the older name of possibleStatus
        "supportedClass",  # a class of the documentation
        "supportedOperation",  # an operation of a class or link property
        "supportedProperty",  # a property of a class
        "template",  # the RFC 6570 text of an IriTemplate
        "title",  # a short human-readable title
        "totalItems",  # how many members a collection has in all
        "variable",  # the name of a template variable
        "variableRepresentation",  # how template values are serialised
        "view",  # a page of a collection
        "writable",  # whether clients can write a property
        "writeable",  # the older spelling of writable, still read by some clients
        "writeonly",  # the pre-2014 spelling of "not readable", read by HydraConsole
    ],
)

VOCAB_PATH = "/vocab"


def vocab_iri(base: str, term: str = "") -> str:
    """Return the absolute IRI of a DLCS vocabulary term served from ``base``."""
    return f"{base}{VOCAB_PATH}#{term}"


__all__ = ["HYDRA", "OWL", "RDF", "RDFS", "VOCAB_PATH", "XSD", "vocab_iri"]

# The IIIF Image API 3.0 vocabulary: the class of the image services that delivery serves.
IIIF_IMAGE = ClosedNamespace(
    uri="http://iiif.io/api/image/3#",
    terms=["ImageService3"],  # an Image API 3.0 service (as its info.json's type says)
)
