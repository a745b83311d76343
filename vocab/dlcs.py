"""The DLCS vocabulary: every class, property and operation the API serves.

The Image class follows the user's specification (generated in 2016 from the DLCS
``DLCS.Mock`` Hydra model, ``Image.md``), property by property; the other classes follow
the resources of the real DLCS (``dlcs/protagonist``, ``DLCS.HydraModel``) where this API
serves them. Where this declaration departs from either, ``shared/spec/DECISIONS.md``
says why. Statuses are the ones the server really answers with.
"""

from __future__ import annotations

from vocab.model import COLLECTION, NOTHING, Class, Filter, Operation, Prop, Status

# -- statuses -----------------------------------------------------------------------------

OK = Status(200, "OK")
CREATED = Status(201, "Created; the Location header names the new resource")
ACCEPTED = Status(
    202,
    "Accepted: stored, and queued for ingest (sent with Prefer: respond-async, or when the "
    "origin takes longer to fetch than the server waits for it)",
)
NO_CONTENT = Status(204, "Deleted")
RESET = Status(205, "Deleted; reset the view, there is no body")
BAD_REQUEST = Status(
    400, "Bad request: the body or a parameter is invalid; violations name each fault"
)
UNAUTHORIZED = Status(401, "Credentials missing, wrong, or not allowed for this customer")
FORBIDDEN = Status(403, "The credentials are valid but an admin key is needed")
NOT_FOUND = Status(404, "Not found")
NOT_ACCEPTABLE = Status(406, "None of the media types the Accept header names can be served")
CONFLICT = Status(409, "Conflict: other resources still depend on this one")
STALE = Status(
    412, "If-Match names a version the resource no longer has (or If-None-Match: * and it exists)"
)
UNSUPPORTED = Status(415, "The body is not JSON or JSON-LD")
UNAVAILABLE = Status(
    503,
    "Unavailable for now, nothing changed: the database did not answer within its statement "
    "timeout (DLCS_STATEMENT_TIMEOUT)",
)


def _get(cls: str, title: str, *, auth: bool = True) -> Operation:
    statuses = (OK, UNAUTHORIZED, NOT_FOUND) if auth else (OK, NOT_FOUND)
    return Operation("GET", title, f"vocab:{cls}", (*statuses, NOT_ACCEPTABLE, UNAVAILABLE))


def _put(cls: str, title: str, *extra: Status) -> Operation:
    return Operation(
        "PUT",
        title,
        f"vocab:{cls}",
        (
            OK,
            CREATED,
            *extra,
            BAD_REQUEST,
            UNAUTHORIZED,
            NOT_FOUND,
            STALE,
            UNSUPPORTED,
            UNAVAILABLE,
        ),
        expects=f"vocab:{cls}",
    )


def _patch(cls: str, title: str, *extra: Status) -> Operation:
    return Operation(
        "PATCH",
        title,
        f"vocab:{cls}",
        (OK, *extra, BAD_REQUEST, UNAUTHORIZED, NOT_FOUND, STALE, UNSUPPORTED, UNAVAILABLE),
        expects=f"vocab:{cls}",
    )


def _delete(title: str, done: Status = NO_CONTENT, *extra: Status) -> Operation:
    statuses = (done, UNAUTHORIZED, *extra, NOT_FOUND, STALE, UNAVAILABLE)
    return Operation("DELETE", title, NOTHING, statuses)


def _list(member: str, title: str, *, auth: bool = True) -> Operation:
    statuses = (OK, BAD_REQUEST, UNAUTHORIZED, NOT_FOUND) if auth else (OK, BAD_REQUEST)
    return Operation(
        "GET",
        title,
        COLLECTION,
        (*statuses, NOT_ACCEPTABLE, UNAVAILABLE),
        description=f"A page of {member} members",
    )


def _post(member: str, title: str, *extra: Status, expects: bool = True) -> Operation:
    return Operation(
        "POST",
        title,
        f"vocab:{member}",
        (CREATED, BAD_REQUEST, UNAUTHORIZED, *extra, NOT_FOUND, UNSUPPORTED, UNAVAILABLE),
        expects=f"vocab:{member}" if expects else None,
    )


def _collection(name: str, member: str, path: str, description: str, *ops: Operation) -> Prop:
    return Prop(
        name,
        COLLECTION,
        description,
        readonly=True,
        link=True,
        member=member,
        path=path,
        operations=ops,
    )


# -- the Image (the user's specification) -------------------------------------------------

IMAGE = Class(
    "Image",
    "Image",
    "The DLCS view of an asset that you have registered (Image, Audio or Video file). "
    "The DLCS offers services on it, such as IIIF Image API endpoints, and stores "
    "arbitrary metadata with it for building applications.",
    path="/customers/{customer}/spaces/{space}/images/{image}",
    default_order=("created",),
    filters=(Filter("hasError", "error", "Whether the image has an error"),),
    properties=(
        Prop(
            "created",
            "xsd:dateTime",
            "Date the image was added",
            readonly=True,
            orderable=True,
            automatic=True,
        ),
        Prop(
            "origin",
            "xsd:string",
            "Origin endpoint from where the original image can be acquired (or was acquired)",
            default="",
            filterable=True,
            orderable=True,
        ),
        Prop(
            "initialOrigin",
            "xsd:string",
            "Endpoint to use the first time the image is retrieved. This allows an initial "
            "ingest from a short term s3 bucket (for example) but subsequent references from "
            "an https URI.",
            writeonly=True,
        ),
        Prop(
            "maxUnauthorised",
            "xsd:integer",
            "Maximum size of request allowed before roles are enforced - relates to the "
            "effective WHOLE image size, not the individual tile size. 0 = No open option, "
            '-1 (default) = no authorisation. Used in conjunction with "roles" property.',
            default=-1,
            filterable=True,
            orderable=True,
        ),
        Prop("width", "xsd:integer", "Tile source width", readonly=True, orderable=True),
        Prop("height", "xsd:integer", "Tile source height", readonly=True, orderable=True),
        Prop(
            "finished",
            "xsd:dateTime",
            "When the image processing finished (image ready)",
            readonly=True,
            orderable=True,
        ),
        Prop(
            "ingesting",
            "xsd:boolean",
            "Is the image currently being ingested?",
            readonly=True,
            default=False,
            filterable=True,
        ),
        Prop("error", "xsd:string", "Reported errors with this image", default=""),
        Prop(
            "tags",
            "xsd:string",
            "A collection any associated tags",
            multiple=True,
            default=(),
            filterable=True,
        ),
        Prop(
            "string1",
            "xsd:string",
            "String reference 1",
            default="",
            filterable=True,
            orderable=True,
        ),
        Prop(
            "string2",
            "xsd:string",
            "String reference 2",
            default="",
            filterable=True,
            orderable=True,
        ),
        Prop(
            "string3",
            "xsd:string",
            "String reference 3",
            default="",
            filterable=True,
            orderable=True,
        ),
        Prop(
            "number1",
            "xsd:nonNegativeInteger",
            "Number reference 1",
            default=0,
            filterable=True,
            orderable=True,
        ),
        Prop(
            "number2",
            "xsd:nonNegativeInteger",
            "Number reference 2",
            default=0,
            filterable=True,
            orderable=True,
        ),
        Prop(
            "number3",
            "xsd:nonNegativeInteger",
            "Number reference 3",
            default=0,
            filterable=True,
            orderable=True,
        ),
        Prop(
            "duration",
            "xsd:nonNegativeInteger",
            'Duration of A/V asset, in milliseconds. Will be "0" for image assets.',
            default=0,
            orderable=True,
        ),
        Prop(
            "family",
            "xsd:string",
            "The type of Asset. Can be (I)mage, (T)imebased (a/v) or (F)ile (e.g. pdf, docx).",
            default="I",
            choices=("I", "T", "F"),
            filterable=True,
            orderable=True,
        ),
        Prop(
            "batch",
            "xsd:nonNegativeInteger",
            "The batch this image was ingested in (most recently). Might be blank if the batch "
            "has been archived or the image was ingested in immediate mode.",
            readonly=True,
            filterable=True,
        ),
        Prop(
            "roles",
            "Role",
            "The role, or roles, that a user must possess to view this image above "
            "maxUnauthorised. These are URIs of roles e.g., "
            "https://api.dlcs.io/customers/1/roles/requiresRegistration",
            multiple=True,
            link=True,
            default=(),
        ),
        Prop(
            "imageOptimisationPolicy",
            "ImageOptimisationPolicy",
            "The image optimisation policy used when this image was last processed "
            "(e.g., registered).",
            readonly=True,
            link=True,
        ),
        Prop(
            "thumbnailPolicy",
            "ThumbnailPolicy",
            "The thumbnail settings used when this image was last processed (e.g., registered).",
            readonly=True,
            link=True,
        ),
        # Added by the DLCS after the specification, under these names.
        Prop(
            "imageService",
            "ImageService3",
            "The IIIF Image API service of the image (3.0; 2.1 under /iiif-img/v2/), once it "
            "has been ingested as an image",
            readonly=True,
            link=True,
            path="/iiif-img/{customer}/{space}/{image}",
            present_if="thumbnailPolicy",
        ),
        Prop(
            "thumbnailImageService",
            "ImageService3",
            "The IIIF Image API service (level 0) of the thumbnails made of the image, once it "
            "has been ingested as an image",
            readonly=True,
            link=True,
            path="/thumbs/{customer}/{space}/{image}",
            present_if="thumbnailPolicy",
        ),
        # Added by this server.
        Prop(
            "warning",
            "xsd:string",
            "What ingest noticed that did not stop it: an origin whose file ends before its "
            "pixels do, when the server records that as a warning (DLCS_INGEST_TRUNCATED)",
            readonly=True,
            default="",
        ),
    ),
    operations=(
        _get("Image", "Retrieve a Image"),
        _put("Image", "create or replace a Image", ACCEPTED),
        _patch("Image", "Update the supplied fields of the Image", ACCEPTED),
        _delete("Delete the Image", RESET),
    ),
)

# -- the resources around the Image -------------------------------------------------------

ROLE = Class(
    "Role",
    "Role",
    "A role a user must possess to see an image above its maxUnauthorised size.",
    path="/customers/{customer}/roles/{role}",
    properties=(
        Prop(
            "name",
            "xsd:string",
            "The name of the role (left out: its key, the last segment of its IRI)",
            default="",
            default_key=True,
        ),
        Prop("label", "xsd:string", "A label for the role, to show to people", default=""),
        Prop(
            "aliases",
            "xsd:string",
            "Other names the role is known by, e.g. in an auth service",
            multiple=True,
            default=(),
        ),
        # What the role's IIIF Auth 2 access service shows and does.
        Prop(
            "accessProfile",
            "xsd:string",
            "How a user gains the role through its access service: clickthrough (a page with a "
            "confirm button) or login (the customer's own sign-in page, signInUrl, which sends "
            "the user back with a grant)",
            default="clickthrough",
            choices=("clickthrough", "login"),
        ),
        Prop(
            "heading",
            "xsd:string",
            "The heading of the role's access service, e.g. 'Registered readers only'",
            default="",
        ),
        Prop(
            "note",
            "xsd:string",
            "What the access service tells the user, e.g. the terms they agree to",
            default="",
        ),
        Prop(
            "confirmLabel",
            "xsd:string",
            "The label of the access service's confirm button",
            default="",
        ),
        Prop(
            "signInUrl",
            "xsd:string",
            "With the login profile: the customer's sign-in page, which the access service "
            "sends the user to with returnUrl, the URL to send them back to with ?grant= "
            "(an AuthGrant): an absolute https URL",
            default="",
            browser_url=True,
        ),
    ),
    operations=(
        _get("Role", "Retrieve a Role"),
        _put("Role", "create or replace a Role"),
        _patch("Role", "Update the supplied fields of the Role"),
        _delete("Delete the Role", NO_CONTENT, CONFLICT),
    ),
)

IMAGE_OPTIMISATION_POLICY = Class(
    "ImageOptimisationPolicy",
    "Image optimisation policy",
    "How an image is prepared for delivery when it is ingested.",
    path="/imageoptimisationpolicies/{imageOptimisationPolicy}",
    properties=(
        Prop("name", "xsd:string", "The name of the policy", readonly=True, default=""),
        Prop(
            "technicalDetails",
            "xsd:string",
            "The settings of the tools that apply the policy",
            readonly=True,
            multiple=True,
            default=(),
        ),
    ),
    operations=(
        _get("ImageOptimisationPolicy", "Retrieve an ImageOptimisationPolicy", auth=False),
    ),
)

THUMBNAIL_POLICY = Class(
    "ThumbnailPolicy",
    "Thumbnail policy",
    "The sizes of the thumbnails made for an image when it is ingested.",
    path="/thumbnailpolicies/{thumbnailPolicy}",
    properties=(
        Prop("name", "xsd:string", "The name of the policy", readonly=True, default=""),
        Prop(
            "sizes",
            "xsd:nonNegativeInteger",
            "The longest edge, in pixels, of each thumbnail made",
            readonly=True,
            multiple=True,
            default=(),
        ),
    ),
    operations=(_get("ThumbnailPolicy", "Retrieve a ThumbnailPolicy", auth=False),),
)

SPACE = Class(
    "Space",
    "Space",
    "A customer's space: a container of images with defaults for the images put in it.",
    path="/customers/{customer}/spaces/{space}",
    properties=(
        Prop(
            "id",
            "xsd:nonNegativeInteger",
            "The number of the space",
            readonly=True,
            identifier=True,
        ),
        Prop("name", "xsd:string", "The name of the space", required=True, orderable=True),
        Prop(
            "created", "xsd:dateTime", "Date the space was created", readonly=True, automatic=True
        ),
        Prop(
            "maxUnauthorised",
            "xsd:integer",
            "The maxUnauthorised given to new images of this space that set none",
            default=-1,
        ),
        Prop(
            "defaultTags",
            "xsd:string",
            "The tags given to new images of this space that set none",
            multiple=True,
            default=(),
        ),
        Prop(
            "defaultRoles",
            "Role",
            "The roles given to new images of this space that set none",
            multiple=True,
            link=True,
            default=(),
        ),
        _collection(
            "images",
            "Image",
            "/customers/{customer}/spaces/{space}/images",
            "The images of this space",
            _list("Image", "Retrieve the images of the space"),
        ),
    ),
    operations=(
        _get("Space", "Retrieve a Space"),
        _put("Space", "create or replace a Space"),
        _patch("Space", "Update the supplied fields of the Space"),
        _delete("Delete the Space", NO_CONTENT, CONFLICT),
    ),
)

KEY = Class(
    "Key",
    "API key",
    "An API key of a customer. Use it with its secret as HTTP Basic credentials.",
    path="/customers/{customer}/keys/{key}",
    default_order=("created",),
    properties=(
        Prop(
            "key",
            "xsd:string",
            "The key, the user name of HTTP Basic",
            readonly=True,
            identifier=True,
        ),
        Prop(
            "secret",
            "xsd:string",
            "The secret, the password of HTTP Basic; shown only in the response that creates "
            "the key, and stored only as a hash",
            readonly=True,
            transient=True,
        ),
        Prop("created", "xsd:dateTime", "Date the key was created", readonly=True, automatic=True),
    ),
    operations=(_get("Key", "Retrieve an API key"), _delete("Delete the API key")),
)

BATCH = Class(
    "Batch",
    "Batch",
    "A set of images registered together through the customer's queue and ingested in "
    "the background. The counters are derived from the images themselves, so they never drift.",
    path="/customers/{customer}/queue/batches/{batch}",
    default_order=("submitted",),
    properties=(
        Prop(
            "submitted",
            "xsd:dateTime",
            "When the batch was submitted",
            readonly=True,
            automatic=True,
        ),
        Prop("count", "xsd:nonNegativeInteger", "How many images the batch holds", readonly=True),
        Prop(
            "completed",
            "xsd:nonNegativeInteger",
            "How many of its images were ingested without error",
            readonly=True,
            transient=True,
        ),
        Prop(
            "errors",
            "xsd:nonNegativeInteger",
            "How many of its images failed to ingest",
            readonly=True,
            transient=True,
        ),
        Prop(
            "superseded",
            "xsd:nonNegativeInteger",
            "How many of its images were registered again (or deleted) since",
            readonly=True,
            transient=True,
        ),
        Prop(
            "finished",
            "xsd:dateTime",
            "When the last of its images was ingested; absent while any is waiting",
            readonly=True,
            transient=True,
        ),
        _collection(
            "images",
            "Image",
            "/customers/{customer}/queue/batches/{batch}/images",
            "The images whose latest batch this is",
            _list("Image", "Retrieve the images of the batch"),
        ),
    ),
    operations=(
        _get("Batch", "Retrieve a Batch"),
        Operation(
            "POST",
            "Queue the failed images of the batch again",
            "vocab:Batch",
            (ACCEPTED, UNAUTHORIZED, NOT_FOUND, UNAVAILABLE),
        ),
    ),
)

QUEUE = Class(
    "Queue",
    "Queue",
    "A customer's ingest queue. POST a hydra:Collection of images (each member with its "
    "id, space and Image properties) to register them all as one Batch.",
    path="/customers/{customer}/queue",
    properties=(
        Prop(
            "size",
            "xsd:nonNegativeInteger",
            "How many images are waiting to be ingested",
            readonly=True,
            transient=True,
        ),
        Prop(
            "batchesWaiting",
            "xsd:nonNegativeInteger",
            "How many batches still have images waiting",
            readonly=True,
            transient=True,
        ),
        _collection(
            "batches",
            "Batch",
            "/customers/{customer}/queue/batches",
            "The batches of this customer",
            _list("Batch", "Retrieve the batches of the customer"),
        ),
    ),
    operations=(
        _get("Queue", "Retrieve the queue"),
        Operation(
            "POST",
            "Register a collection of images as a Batch",
            "vocab:Batch",
            (CREATED, BAD_REQUEST, UNAUTHORIZED, NOT_FOUND, UNSUPPORTED, UNAVAILABLE),
            expects=COLLECTION,
        ),
    ),
)

REINGEST = Class(
    "Reingest",
    "Reingest",
    "Ingest an image again from its origin. Send Prefer: respond-async to queue it instead.",
    path="/customers/{customer}/spaces/{space}/images/{image}/reingest",
    properties=(),
    operations=(
        Operation(
            "POST",
            "Ingest the image again",
            "vocab:Image",
            (OK, ACCEPTED, UNAUTHORIZED, NOT_FOUND, UNAVAILABLE),
        ),
    ),
)

AUTH_GRANT = Class(
    "AuthGrant",
    "Auth grant",
    "A grant of some of a customer's roles, for a user the customer's own site has signed in: "
    "its sign-in page sends the user to the role's access service with ?grant= and the access "
    "service turns it into a session holding those roles. Bound to the customer and to the "
    "roles it names, short-lived (DLCS_AUTH_GRANT_SECONDS), and taken once: a grant used "
    "opens nothing more.",
    path="/customers/{customer}/authGrants",
    properties=(
        Prop(
            "roles",
            "Role",
            "The roles granted: IRIs of roles of this customer",
            multiple=True,
            link=True,
            required=True,
            transient=True,
        ),
        Prop(
            "grant",
            "xsd:string",
            "The grant, for the access service's grant parameter",
            readonly=True,
            transient=True,
        ),
        Prop(
            "expires",
            "xsd:dateTime",
            "When the grant can no longer be turned into a session",
            readonly=True,
            transient=True,
        ),
    ),
    operations=(
        Operation(
            "POST",
            "Grant roles to a session of a user the customer has signed in",
            "vocab:AuthGrant",
            (OK, BAD_REQUEST, UNAUTHORIZED, NOT_FOUND, UNSUPPORTED, UNAVAILABLE),
            expects="vocab:AuthGrant",
        ),
    ),
)

_TEMPLATE = (
    "The query: &-separated key=value pairs. Keys s1, s2, s3, n1, n2, n3 (string1..3, "
    "number1..3), space, spacename and batch (numbers, comma-separated) choose the images; "
    "canvas (or assetOrder) orders them, e.g. n1;n2 desc;s1 (ties by space and id); "
    "manifest names the field that names the manifest (e.g. s1); #=v appends the argument v "
    "after those of the request. A value pN is the Nth argument of the results' path "
    "(/iiif-resource/{customer}/{name}/{p1}/{p2}..., %2F for a / inside one), any other "
    "value is itself. E.g. manifest=s1&s1=p1&canvas=n1"
)

_QUERY_NAME = Prop(
    "name",
    "xsd:string",
    "The name of the query, the {name} of its results' path",
    readonly=True,
    identifier=True,
)

NAMED_QUERY = Class(
    "NamedQuery",
    "Named query",
    "A customer's stored query that turns a URL into a IIIF Presentation 3 manifest of the "
    "images whose metadata (string1..3, number1..3, space, batch) match it, in the order it "
    "gives: /iiif-resource/v3/{customer}/{name}/{arguments...}.",
    path="/customers/{customer}/namedQueries/{namedQuery}",
    properties=(
        _QUERY_NAME,
        Prop("queryTemplate", "xsd:string", _TEMPLATE, required=True, max_length=1000),
    ),
    operations=(
        _get("NamedQuery", "Retrieve a NamedQuery"),
        _put("NamedQuery", "create or replace a NamedQuery"),
        _patch("NamedQuery", "Update the supplied fields of the NamedQuery"),
        _delete("Delete the NamedQuery"),
    ),
)

GLOBAL_NAMED_QUERY = Class(
    "GlobalNamedQuery",
    "Global named query",
    "A named query that ships with the server, which every customer may use: "
    "/iiif-resource/v3/{customer}/{name}/{arguments...} runs a customer's own query of that "
    "name if it has one, else this one.",
    path="/namedQueries/{globalNamedQuery}",
    properties=(
        _QUERY_NAME,
        Prop("queryTemplate", "xsd:string", _TEMPLATE, readonly=True, default=""),
    ),
    operations=(_get("GlobalNamedQuery", "Retrieve a GlobalNamedQuery", auth=False),),
)

CUSTOMER = Class(
    "Customer",
    "Customer",
    "A customer of the DLCS, owner of spaces, images, roles and keys.",
    path="/customers/{customer}",
    properties=(
        Prop("name", "xsd:string", "The unique short name of the customer", required=True),
        Prop("displayName", "xsd:string", "The name of the customer to show", default=""),
        Prop(
            "administrator",
            "xsd:boolean",
            "Whether the keys of this customer may act on every customer",
            default=False,
        ),
        Prop(
            "created",
            "xsd:dateTime",
            "Date the customer was created",
            readonly=True,
            automatic=True,
        ),
        _collection(
            "spaces",
            "Space",
            "/customers/{customer}/spaces",
            "The spaces of this customer",
            _list("Space", "Retrieve the spaces of the customer"),
            _post("Space", "Create a Space with the next free number", CONFLICT),
        ),
        _collection(
            "allImages",
            "Image",
            "/customers/{customer}/allImages",
            "The images of every space of this customer",
            _list("Image", "Retrieve the images of every space of the customer"),
        ),
        _collection(
            "roles",
            "Role",
            "/customers/{customer}/roles",
            "The roles of this customer",
            _list("Role", "Retrieve the roles of the customer"),
        ),
        _collection(
            "namedQueries",
            "NamedQuery",
            "/customers/{customer}/namedQueries",
            "The named queries of this customer",
            _list("NamedQuery", "Retrieve the named queries of the customer"),
        ),
        Prop(
            "queue",
            "Queue",
            "The ingest queue of this customer",
            readonly=True,
            link=True,
            path="/customers/{customer}/queue",
        ),
        _collection(
            "keys",
            "Key",
            "/customers/{customer}/keys",
            "The API keys of this customer",
            _list("Key", "Retrieve the API keys of the customer"),
            _post("Key", "Create an API key; the response shows its secret, once", expects=False),
        ),
    ),
    operations=(
        _get("Customer", "Retrieve a Customer"),
        _patch("Customer", "Update the supplied fields of the Customer", FORBIDDEN, CONFLICT),
        _delete("Delete the Customer", NO_CONTENT, FORBIDDEN, CONFLICT),
    ),
)

ENTRY_POINT = Class(
    "EntryPoint",
    "Entry point",
    "The main entry point of the DLCS API.",
    path="/",
    properties=(
        _collection(
            "images",
            "Image",
            "/customers/{customer}/allImages",
            "The images of the caller's customer (only when the request carries an API key)",
            _list("Image", "Retrieve the images of every space of the caller's customer"),
        ),
        _collection(
            "spaces",
            "Space",
            "/customers/{customer}/spaces",
            "The spaces of the caller's customer (only when the request carries an API key)",
            _list("Space", "Retrieve the spaces of the caller's customer"),
            _post("Space", "Create a Space with the next free number", CONFLICT),
        ),
        _collection(
            "roles",
            "Role",
            "/customers/{customer}/roles",
            "The roles of the caller's customer (only when the request carries an API key)",
            _list("Role", "Retrieve the roles of the caller's customer"),
        ),
        _collection(
            "customers",
            "Customer",
            "/customers",
            "The customers the caller may see",
            _list("Customer", "Retrieve the customers"),
            _post("Customer", "Create a Customer (admin keys only)", FORBIDDEN, CONFLICT),
        ),
        _collection(
            "imageOptimisationPolicies",
            "ImageOptimisationPolicy",
            "/imageoptimisationpolicies",
            "The image optimisation policies",
            _list(
                "ImageOptimisationPolicy", "Retrieve the image optimisation policies", auth=False
            ),
        ),
        _collection(
            "thumbnailPolicies",
            "ThumbnailPolicy",
            "/thumbnailpolicies",
            "The thumbnail policies",
            _list("ThumbnailPolicy", "Retrieve the thumbnail policies", auth=False),
        ),
        _collection(
            "globalNamedQueries",
            "GlobalNamedQuery",
            "/namedQueries",
            "The named queries every customer may use",
            _list("GlobalNamedQuery", "Retrieve the global named queries", auth=False),
        ),
    ),
    operations=(_get("EntryPoint", "Retrieve the entry point", auth=False),),
)

VIOLATION = Class(
    "Violation",
    "Violation",
    "One fault of a rejected request.",
    properties=(
        Prop("propertyPath", "xsd:string", "The property or parameter at fault"),
        Prop("message", "xsd:string", "What is wrong with it"),
    ),
)

ERROR = Class(
    "Error",
    "Error",
    "A failed request: a Hydra error that is also an RFC 9457 problem.",
    iri="hydra:Error",
    properties=(
        Prop("statusCode", "xsd:integer", "The HTTP status code", iri="hydra:statusCode"),
        Prop("status", "xsd:integer", "The HTTP status code (RFC 9457)"),
        Prop("title", "xsd:string", "The reason phrase of the status", iri="hydra:title"),
        Prop("description", "xsd:string", "What went wrong", iri="hydra:description"),
        Prop("detail", "xsd:string", "What went wrong (RFC 9457)"),
        Prop("instance", "xsd:string", "The URL of the failed request"),
        Prop(
            "violations",
            "Violation",
            "The faults of a rejected body or parameter",
            multiple=True,
        ),
    ),
)

IMAGE_SERVICE = Class(
    "ImageService3",
    "IIIF Image API service",
    "An image served through the IIIF Image API 3.0: its info.json describes it, and any "
    "region of it at any size is an image request to it.",
    iri="iiif_image:ImageService3",
    properties=(),
)

CLASSES: tuple[Class, ...] = (
    ENTRY_POINT,
    CUSTOMER,
    SPACE,
    IMAGE,
    ROLE,
    KEY,
    QUEUE,
    BATCH,
    REINGEST,
    AUTH_GRANT,
    NAMED_QUERY,
    GLOBAL_NAMED_QUERY,
    IMAGE_OPTIMISATION_POLICY,
    THUMBNAIL_POLICY,
    ERROR,
    VIOLATION,
    IMAGE_SERVICE,
)
BY_NAME: dict[str, Class] = {c.name: c for c in CLASSES}
# The class whose resources these path variables name (a Space: customer and space), the one
# whose path ends with them (an Image's, not its Reingest's; a Customer's, not its Queue's).
KEYED_BY: dict[tuple[str, ...], Class] = {
    c.path_variables: c for c in CLASSES if c.path and c.path_variables and c.path.endswith("}")
}

# Query parameters common to every collection, besides each class's filters.
PAGE = "page"
PAGE_SIZE = "pageSize"
ORDER_BY = "orderBy"
ORDER_BY_DESCENDING = "orderByDescending"
QUERY = "q"
AFTER, BEFORE = "after", "before"  # keyset cursors, issued in next and previous links
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500

# The variables of resource paths, with the type of their values.
PATH_VARIABLES: dict[str, str] = {
    "customer": "xsd:nonNegativeInteger",
    "space": "xsd:nonNegativeInteger",
    "image": "xsd:string",
    "role": "xsd:string",
    "key": "xsd:string",
    "batch": "xsd:nonNegativeInteger",
    "imageOptimisationPolicy": "xsd:string",
    "thumbnailPolicy": "xsd:string",
    "namedQuery": "xsd:string",
    "globalNamedQuery": "xsd:string",
}


def get(name: str) -> Class:
    """Return the class called ``name``."""
    return BY_NAME[name]


def keyed_by(variables: tuple[str, ...]) -> Class | None:
    """Return the class whose resources these path variables name, if any."""
    return KEYED_BY.get(variables)


def parent_of(cls: Class) -> Class | None:
    """Return the class a resource belongs to (a Space for an Image), if any."""
    return keyed_by(cls.path_variables[:-1]) if cls.path_variables[:-1] else None
