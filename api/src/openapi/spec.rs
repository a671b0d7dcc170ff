//! A route described as data ([`Op`]) and the OpenAPI 3.1 objects built from it: one
//! error response per status, grouped from the [`Reason`]s a route can give (the status is
//! `Reason::status`, each reason an example envelope made by `ApiError`), the schemas of
//! every body collected into the components, and the bearer schemes.

use std::collections::BTreeMap;

use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::openapi::{
    Components, ComponentsBuilder, ContentBuilder, Object, ObjectBuilder, OpenApi, OpenApiBuilder,
    Paths, RefOr, Required, Response, ResponseBuilder, ResponsesBuilder, Schema, Tag, Type,
};
use utoipa::{PartialSchema, ToSchema};

use crate::archive::ArchiveView;
use crate::envelope::{Envelope, ErrorEnvelope};
use crate::error::ApiError;
use crate::idempotency::MAX_IDEMPOTENCY_KEY_LEN;
use crate::leader::LeaderHint;
use crate::read::Consistency;
use crate::reason::Reason;

/// The bearer scheme of a node's admin routes (and of the frontend's forwarded ones).
pub const ADMIN_SCHEME: &str = "admin_token";
/// The bearer scheme of a node's `raft` listener.
pub const PEER_SCHEME: &str = "peer_token";

/// The HTTP methods Bazaar's routes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    Get,
    Post,
    Patch,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
        }
    }

    fn http(self) -> HttpMethod {
        match self {
            Method::Get => HttpMethod::Get,
            Method::Post => HttpMethod::Post,
            Method::Patch => HttpMethod::Patch,
        }
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Public,
    /// `Authorization: Bearer <admin token>`.
    Admin,
    /// `Authorization: Bearer <peer token>`.
    Peer,
}

/// A body or answer: its content type, schema and the named schemas it refers to.
#[derive(Clone)]
pub struct Payload {
    pub content_type: &'static str,
    pub schema: RefOr<Schema>,
    components: Vec<(String, RefOr<Schema>)>,
}

impl Payload {
    /// `T` as JSON, by reference to its named schema.
    pub fn json<T: ToSchema>() -> Self {
        let mut components = vec![(T::name().into_owned(), T::schema())];
        T::schemas(&mut components);
        Self {
            content_type: "application/json",
            schema: RefOr::Ref(utoipa::openapi::Ref::from_schema_name(T::name())),
            components,
        }
    }

    /// `{"data": T}`.
    pub fn envelope<T: ToSchema>() -> Self {
        let mut components = vec![(T::name().into_owned(), T::schema())];
        T::schemas(&mut components);
        Self {
            content_type: "application/json",
            schema: Envelope::<T>::schema(),
            components,
        }
    }

    /// Bytes of another kind (a stream, text, a page), described in words.
    pub fn bytes(content_type: &'static str, description: &str) -> Self {
        Self {
            content_type,
            schema: ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
                .content_media_type(content_type)
                .into(),
            components: Vec::new(),
        }
    }

    /// An OpenAPI document (`GET /openapi.json`).
    pub fn document() -> Self {
        Self {
            content_type: "application/json",
            schema: ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some("An OpenAPI 3.1 document: the one you are reading."))
                .into(),
            components: Vec::new(),
        }
    }

    /// Newline-delimited JSON: one `T` per line.
    pub fn ndjson<T: ToSchema>(description: &str) -> Self {
        let json = Self::json::<T>();
        Self {
            content_type: "application/x-ndjson",
            schema: ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
                .content_media_type("application/x-ndjson")
                .into(),
            components: json.components,
        }
    }

    /// Bincode bytes (the node's codec: a format-version byte, then bincode 1.3) of a value
    /// whose structure is the named schema `T`.
    pub fn bincode<T: ToSchema>(what: &str) -> Self {
        let json = Self::json::<T>();
        Self::bincode_of(
            &format!(
                "{what}: the node's codec (a format-version byte, then bincode 1.3) of a \
                 `{}` (its fields: #/components/schemas/{}).",
                T::name(),
                T::name()
            ),
            json.components,
        )
    }

    /// Bincode bytes of a type defined outside Bazaar (openraft's messages).
    pub fn bincode_opaque(what: &str) -> Self {
        Self::bincode_of(
            &format!("{what}: the node's codec (a format-version byte, then bincode 1.3)."),
            Vec::new(),
        )
    }

    fn bincode_of(description: &str, components: Vec<(String, RefOr<Schema>)>) -> Self {
        Self {
            components,
            ..Self::bytes("application/octet-stream", description)
        }
    }
}

/// A response header as documented.
#[derive(Clone)]
pub struct HeaderDoc {
    pub name: &'static str,
    pub description: String,
    pub integer: bool,
}

impl HeaderDoc {
    pub fn new(name: &'static str, description: impl Into<String>) -> Self {
        Self {
            name,
            description: description.into(),
            integer: false,
        }
    }

    /// `X-Bazaar-Index`: the applied log index the answer reflects.
    pub fn index() -> Self {
        Self {
            integer: true,
            ..Self::new(
                "X-Bazaar-Index",
                "The applied log index this answer reflects (a read's index, a write's entry).",
            )
        }
    }
}

/// One request parameter (path, query or header).
#[derive(Clone)]
pub struct Param {
    name: &'static str,
    location: Location,
    required: bool,
    description: String,
    schema: RefOr<Schema>,
    /// The named schemas `schema` refers to.
    components: Vec<(String, RefOr<Schema>)>,
}

#[derive(Clone, Copy)]
enum Location {
    Path,
    Query,
    Header,
}

impl Param {
    pub fn path(name: &'static str, description: &str, schema: impl Into<RefOr<Schema>>) -> Self {
        Self {
            name,
            location: Location::Path,
            required: true,
            description: description.into(),
            schema: schema.into(),
            components: Vec::new(),
        }
    }

    pub fn query(name: &'static str, description: &str, schema: impl Into<RefOr<Schema>>) -> Self {
        Self {
            location: Location::Query,
            required: false,
            ..Self::path(name, description, schema)
        }
    }

    pub fn header(name: &'static str, description: &str, schema: impl Into<RefOr<Schema>>) -> Self {
        Self {
            location: Location::Header,
            required: false,
            ..Self::path(name, description, schema)
        }
    }

    pub fn required(self) -> Self {
        Self {
            required: true,
            ..self
        }
    }

    /// `{name}`: a product name.
    pub fn product_name() -> Self {
        Self::path(
            "name",
            "The product's name: 1-64 of `[A-Za-z0-9 _.-]` (percent-encoded in the path).",
            name_schema(),
        )
    }

    /// `?consistency=`.
    pub fn consistency() -> Self {
        let named = Payload::json::<Consistency>();
        Self {
            components: named.components,
            ..Self::query(
                "consistency",
                "`linearizable` (the default: a read index from the leader, then this node's \
                 state once applied up to it) or `stale` (this node's applied state as it is).",
                named.schema,
            )
        }
    }

    /// `Idempotency-Key`.
    pub fn idempotency_key() -> Self {
        Self::header(
            "Idempotency-Key",
            "1-128 printable ASCII characters; one is generated when absent. A retry with the \
             same key returns the first answer and changes nothing; the same key with a \
             different request answers 422 `key_reused`.",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(MAX_IDEMPOTENCY_KEY_LEN))
                .pattern(Some("^[\\x21-\\x7e]+$"))
                .examples(["order-7f3a"]),
        )
    }
}

/// A product name's schema (the rule of `validate_product_name`).
pub fn name_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(crate::MAX_PRODUCT_NAME_LEN))
        .pattern(Some("^[A-Za-z0-9 _.-]+$"))
        .examples(["Tux"])
        .build()
}

/// An unsigned integer's schema.
pub fn integer(minimum: u64) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Int64,
        )))
        .minimum(Some(minimum as f64))
        .build()
}

/// A string's schema.
pub fn string() -> Object {
    Object::with_type(Type::String)
}

/// One route: what it takes, what it answers and why it refuses.
#[derive(Clone)]
pub struct Op {
    pub method: Method,
    pub path: &'static str,
    tag: &'static str,
    summary: String,
    description: String,
    auth: Auth,
    params: Vec<Param>,
    body: Option<(Payload, bool)>,
    ok_description: String,
    ok: Option<Payload>,
    ok_headers: Vec<HeaderDoc>,
    pub errors: Vec<Reason>,
    /// Refusals the log decided carry the entry's index (`POST /orders`).
    refusals_carry_index: bool,
    /// Answers that are not the error envelope (a peer route's plain-text 400).
    others: Vec<(u16, Response)>,
    servers: Option<Vec<Server>>,
}

impl Op {
    pub fn new(method: Method, path: &'static str, tag: &'static str, summary: &str) -> Self {
        Self {
            method,
            path,
            tag,
            summary: summary.into(),
            description: String::new(),
            auth: Auth::Public,
            params: Vec::new(),
            body: None,
            ok_description: "OK".into(),
            ok: None,
            ok_headers: Vec::new(),
            // Every route has a time limit (the standard layer's).
            errors: vec![Reason::Timeout],
            refusals_carry_index: false,
            others: Vec::new(),
            servers: None,
        }
    }

    pub fn get(path: &'static str, tag: &'static str, summary: &str) -> Self {
        Self::new(Method::Get, path, tag, summary)
    }

    pub fn post(path: &'static str, tag: &'static str, summary: &str) -> Self {
        Self::new(Method::Post, path, tag, summary)
    }

    pub fn patch(path: &'static str, tag: &'static str, summary: &str) -> Self {
        Self::new(Method::Patch, path, tag, summary)
    }

    pub fn describe(mut self, text: &str) -> Self {
        self.description = text.into();
        self
    }

    /// Adds a paragraph to the description.
    pub fn also(mut self, text: &str) -> Self {
        if !self.description.is_empty() {
            self.description.push_str("\n\n");
        }
        self.description.push_str(text);
        self
    }

    pub fn tag(mut self, tag: &'static str) -> Self {
        self.tag = tag;
        self
    }

    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        if auth != Auth::Public {
            self = self.errors(&[Reason::Unauthorized]);
        }
        self
    }

    pub fn param(mut self, param: Param) -> Self {
        self.params.push(param);
        self
    }

    /// Drops the parameter `name` (a header the frontend sets itself).
    pub fn without_param(mut self, name: &str) -> Self {
        self.params.retain(|p| p.name != name);
        self
    }

    /// A required body (with it, 413 `body_too_large` and 400 for a malformed one).
    pub fn body(mut self, payload: Payload) -> Self {
        self.body = Some((payload, true));
        self.errors(&[Reason::BadRequest, Reason::BodyTooLarge])
    }

    /// A body that may be empty (then its defaults apply).
    pub fn optional_body(mut self, payload: Payload) -> Self {
        self.body = Some((payload, false));
        self.errors(&[Reason::BadRequest, Reason::BodyTooLarge])
    }

    pub fn ok(mut self, description: &str, payload: Payload) -> Self {
        self.ok_description = description.into();
        self.ok = Some(payload);
        self
    }

    pub fn ok_header(mut self, header: HeaderDoc) -> Self {
        self.ok_headers.retain(|h| h.name != header.name);
        self.ok_headers.push(header);
        self
    }

    /// Adds reasons this route can answer with (each once).
    pub fn errors(mut self, reasons: &[Reason]) -> Self {
        for reason in reasons {
            if !self.errors.contains(reason) {
                self.errors.push(*reason);
            }
        }
        self
    }

    /// Keeps only the reasons `keep` accepts.
    pub fn retain_errors(mut self, keep: impl Fn(Reason) -> bool) -> Self {
        self.errors.retain(|r| keep(*r));
        self
    }

    pub fn refusals_carry_index(mut self) -> Self {
        self.refusals_carry_index = true;
        self
    }

    pub fn other(mut self, status: u16, response: Response) -> Self {
        self.others.push((status, response));
        self
    }

    pub fn servers(mut self, servers: Vec<Server>) -> Self {
        self.servers = Some(servers);
        self
    }

    /// `(METHOD, path)`, as a router test compares it.
    pub fn route(&self) -> (&'static str, &'static str) {
        (self.method.as_str(), self.path)
    }

    pub fn operation_id(&self) -> String {
        let mut id = self.method.as_str().to_ascii_lowercase();
        for part in self.path.split(['/', '-', '.', '{', '}']) {
            if !part.is_empty() {
                id.push('_');
                id.push_str(part);
            }
        }
        if self.path == "/" {
            id.push_str("_root");
        }
        id
    }

    fn operation(&self, components: &mut BTreeMap<String, RefOr<Schema>>) -> Operation {
        let mut op = OperationBuilder::new()
            .tag(self.tag)
            .summary(Some(self.summary.clone()))
            .operation_id(Some(self.operation_id()));
        if !self.description.is_empty() {
            op = op.description(Some(self.description.clone()));
        }
        op = match self.auth {
            Auth::Public => op,
            Auth::Admin => op.security(SecurityRequirement::new(ADMIN_SCHEME, [] as [&str; 0])),
            Auth::Peer => op.security(SecurityRequirement::new(PEER_SCHEME, [] as [&str; 0])),
        };
        for p in &self.params {
            for (name, schema) in &p.components {
                components
                    .entry(name.clone())
                    .or_insert_with(|| schema.clone());
            }
            let location = match p.location {
                Location::Path => ParameterIn::Path,
                Location::Query => ParameterIn::Query,
                Location::Header => ParameterIn::Header,
            };
            op = op.parameter(
                ParameterBuilder::new()
                    .name(p.name)
                    .parameter_in(location)
                    .required(if p.required {
                        Required::True
                    } else {
                        Required::False
                    })
                    .description(Some(p.description.clone()))
                    .schema(Some(p.schema.clone())),
            );
        }
        if let Some((payload, required)) = &self.body {
            collect(components, payload);
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(if *required {
                        Required::True
                    } else {
                        Required::False
                    }))
                    .content(
                        payload.content_type,
                        ContentBuilder::new()
                            .schema(Some(payload.schema.clone()))
                            .build(),
                    )
                    .build(),
            ));
        }
        let mut responses = ResponsesBuilder::new();
        let mut ok = ResponseBuilder::new().description(self.ok_description.clone());
        if let Some(payload) = &self.ok {
            collect(components, payload);
            ok = ok.content(
                payload.content_type,
                ContentBuilder::new()
                    .schema(Some(payload.schema.clone()))
                    .build(),
            );
        }
        for h in &self.ok_headers {
            ok = ok.header(h.name, header(h));
        }
        responses = responses.response("200", ok.build());
        for (status, response) in self.error_responses() {
            responses = responses.response(status.to_string(), response);
        }
        for (status, response) in &self.others {
            responses = responses.response(status.to_string(), response.clone());
        }
        op.responses(responses.build()).build()
    }

    /// One response per status this route's reasons give, each listing its reasons.
    fn error_responses(&self) -> BTreeMap<u16, Response> {
        let mut by_status: BTreeMap<u16, Vec<Reason>> = BTreeMap::new();
        // In the enum's order, whatever order the route added them in.
        for reason in all_reasons() {
            if self.errors.contains(&reason) {
                by_status.entry(reason.status()).or_default().push(reason);
            }
        }
        by_status
            .into_iter()
            .map(|(status, reasons)| (status, self.error_response(status, &reasons)))
            .collect()
    }

    fn error_response(&self, status: u16, reasons: &[Reason]) -> Response {
        let mut description = String::from("The error envelope; `error.reason` is one of:");
        for reason in reasons {
            description.push_str(&format!("\n- `{reason}`: {}", meaning(*reason)));
        }
        let examples = reasons.iter().map(|reason| {
            let value = serde_json::to_value(sample_error(*reason).to_envelope())
                .expect("an envelope encodes");
            (
                reason.as_str(),
                ExampleBuilder::new()
                    .summary(meaning(*reason))
                    .value(Some(value))
                    .build(),
            )
        });
        let mut response = ResponseBuilder::new().description(description).content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    ErrorEnvelope::name(),
                ))))
                .examples_from_iter(examples)
                .build(),
        );
        if status == 503 {
            response = response.header(
                "Retry-After",
                header(&HeaderDoc {
                    integer: true,
                    ..HeaderDoc::new("Retry-After", "Seconds to wait before a retry (1).")
                }),
            );
        }
        if reasons.contains(&Reason::NotLeader) {
            response = response
                .header(
                    "X-Bazaar-Leader",
                    header(&HeaderDoc::new(
                        "X-Bazaar-Leader",
                        "The leader as `<id> <api host:port>`, as `error.leader` names it.",
                    )),
                )
                .header(
                    "Location",
                    header(&HeaderDoc::new(
                        "Location",
                        "`http://<leader api>`: where to send the write.",
                    )),
                );
        }
        let decided = matches!(status, 404 | 409 | 410 | 422 | 507);
        if self.refusals_carry_index && decided {
            response = response.header(
                "X-Bazaar-Index",
                header(&HeaderDoc {
                    description: "When the log decided the refusal: the index of its entry.".into(),
                    ..HeaderDoc::index()
                }),
            );
        }
        response.build()
    }
}

fn header(h: &HeaderDoc) -> utoipa::openapi::header::Header {
    let schema = if h.integer {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .build()
    } else {
        string()
    };
    HeaderBuilder::new()
        .schema(schema)
        .description(Some(h.description.clone()))
        .build()
}

fn collect(components: &mut BTreeMap<String, RefOr<Schema>>, payload: &Payload) {
    for (name, schema) in &payload.components {
        components
            .entry(name.clone())
            .or_insert_with(|| schema.clone());
    }
}

/// A plain-text answer (a peer route's own 400 and 500).
pub fn text_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "text/plain; charset=utf-8",
            ContentBuilder::new()
                .schema(Some(RefOr::T(Schema::Object(string()))))
                .build(),
        )
        .build()
}

/// What a reason means to a caller. The match is exhaustive, so a new reason cannot be
/// added without saying here what it means.
pub fn meaning(reason: Reason) -> &'static str {
    match reason {
        Reason::BadRequest => "malformed or out-of-range input (body, path, query or header)",
        Reason::Unauthorized => "missing or wrong bearer token",
        Reason::UnknownProduct => "no such product",
        Reason::UnknownOrder => "no such order (yet)",
        Reason::UnknownMember => "no such cluster member",
        Reason::UnknownRoute => "no such route here",
        Reason::MethodNotAllowed => "the route exists, not for this method",
        Reason::InsufficientStock => "not enough units in stock",
        Reason::BodyTooLarge => "the body is over the limit (64 KiB on the public API)",
        Reason::KeyReused => "the Idempotency-Key was first used for a different request",
        Reason::Conflict => "not allowed in the cluster's current state; the message says why",
        Reason::NotLeader => {
            "this node does not lead; `error.leader` (and `X-Bazaar-Leader`) names the one \
             that does"
        }
        Reason::NoLeader => "no leader is known right now (an election); retry shortly",
        Reason::Unavailable => {
            "no quorum, or not confirmed within the deadline; retry (a write with the same \
             Idempotency-Key)"
        }
        Reason::Timeout => "the route's time limit passed",
        Reason::NotReady => "this process cannot serve yet; the message says why",
        Reason::StorageFailed => {
            "this node's storage failed; it is about to exit, other nodes answer"
        }
        Reason::Internal => "a failure that is not the caller's",
        Reason::NoSpace => {
            "the `nospace` alarm is active: new orders and products are refused until it is \
             disarmed"
        }
        Reason::Corrupt => "the `corrupt` alarm names this node: it serves no reads",
        Reason::Archived => {
            "the order was archived; `error.archive` names the archive that holds it"
        }
        Reason::Overloaded => {
            "this process holds as many requests of this class as its `[limits]` allow; \
             answered at once, retry after `Retry-After` seconds"
        }
        Reason::RateLimited => {
            "this client is over the frontend's per-client rate (`[limits.rate]`); retry \
             after `Retry-After` seconds"
        }
    }
}

/// An error of `reason` as a server would send it, for the examples.
fn sample_error(reason: Reason) -> ApiError {
    match reason {
        Reason::NotLeader => ApiError::not_leader(Some(LeaderHint::new(2, "127.0.0.1:7002"))),
        Reason::NoLeader => ApiError::not_leader(None),
        Reason::Archived => ApiError::archived(
            42,
            ArchiveView {
                from: 1,
                upto: 500,
                count: 500,
                digest: "5f0c2a71d3e9b845".into(),
                committed_index: 9100,
                committed_at_ms: 1_767_225_600_000,
                label: "orders-1.archive".into(),
            },
        ),
        Reason::Unauthorized => ApiError::unauthorized(),
        other => ApiError::new(other, meaning(other)),
    }
}

/// Every reason, in the order the `Reason` schema lists them (its derived `enum`).
pub fn all_reasons() -> Vec<Reason> {
    let RefOr::T(Schema::Object(object)) = Reason::schema() else {
        unreachable!("Reason's schema is a string enum");
    };
    object
        .enum_values
        .unwrap_or_default()
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("every enum value is a Reason"))
        .collect()
}

/// The parts of a document besides its routes.
pub struct DocumentInfo {
    pub title: &'static str,
    pub description: String,
    pub servers: Vec<Server>,
    pub tags: Vec<(&'static str, &'static str)>,
}

/// The document of `ops`.
pub fn document(info: DocumentInfo, ops: &[Op]) -> OpenApi {
    let mut components = BTreeMap::new();
    // The error envelope and every schema it names, with the reasons' table.
    for (name, schema) in Payload::json::<ErrorEnvelope>().components {
        components.insert(name, schema);
    }
    components.insert("Reason".into(), reason_schema());
    let mut paths = Paths::new();
    for op in ops {
        let operation = op.operation(&mut components);
        let mut item = PathItem::new(op.method.http(), operation);
        item.servers = op.servers.clone();
        match paths.paths.get_mut(op.path) {
            Some(existing) => {
                if existing.servers.is_none() {
                    existing.servers = item.servers.take();
                }
                existing.merge_operations(item);
            }
            None => {
                paths.paths.insert(op.path.to_string(), item);
            }
        }
    }
    let components: Components = ComponentsBuilder::new()
        .schemas_from_iter(components)
        .security_scheme(
            ADMIN_SCHEME,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The admin token: `BAZAAR_ADMIN_TOKEN`, `security.admin_token_file` or \
                         the cluster file.",
                    ))
                    .build(),
            ),
        )
        .security_scheme(
            PEER_SCHEME,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The peer token nodes present to each other: `BAZAAR_PEER_TOKEN`, \
                         `security.peer_token_file` or the cluster file.",
                    ))
                    .build(),
            ),
        )
        .build();
    let used_tags: Vec<&str> = ops.iter().map(|op| op.tag).collect();
    let tags = info
        .tags
        .iter()
        .filter(|(name, _)| used_tags.contains(name))
        .map(|(name, description)| {
            let mut tag = Tag::new(*name);
            tag.description = Some((*description).into());
            tag
        });
    OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title(info.title)
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(info.description))
                .license(Some(
                    utoipa::openapi::LicenseBuilder::new().name("MIT").build(),
                ))
                .build(),
        )
        .servers(Some(info.servers))
        .paths(paths)
        .components(Some(components))
        .tags(Some(tags))
        .build()
}

/// `Reason` with a table of what each means and its status, for readers of the schema.
fn reason_schema() -> RefOr<Schema> {
    let RefOr::T(Schema::Object(mut object)) = Reason::schema() else {
        unreachable!("Reason's schema is a string enum");
    };
    let mut description = object.description.take().unwrap_or_default();
    description.push_str("\n\n| reason | status | meaning |\n| --- | --- | --- |");
    for reason in all_reasons() {
        description.push_str(&format!(
            "\n| `{reason}` | {} | {} |",
            reason.status(),
            meaning(reason)
        ));
    }
    object.description = Some(description);
    RefOr::T(Schema::Object(object))
}
