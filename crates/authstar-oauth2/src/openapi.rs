//! OpenAPI descriptions of the authorization server's routes (feature `openapi`, utoipa): each
//! endpoint with its form body, its answers and RFC 6749 §5.2 errors, under the tag
//! [`TAG`], so a Swagger UI shows them beside the API they protect.
//!
//! ```
//! use authstar::{AuthstarClient, AuthstarLayer, BasicCredentials};
//! use authstar_oauth2::{AuthorizationServer, OAuth2TokenResponse, token_endpoint};
//!
//! # async fn verify(c: BasicCredentials) -> Option<AuthstarClient> { None }
//! let layer = AuthstarLayer::builder().on_auth_basic(verify).build().unwrap();
//! let token = token_endpoint(&layer, |_, client: AuthstarClient| async move {
//!     Ok::<_, std::convert::Infallible>(OAuth2TokenResponse::bearer(client.client_id()))
//! });
//! let server = AuthorizationServer::builder("https://as.example").token(token).build().unwrap();
//! let paths = authstar_oauth2::openapi::paths(&server);
//! let json = serde_json::to_value(&paths).unwrap();
//! let token = &json["/oauth2/token"]["post"];
//! assert_eq!(token["tags"][0], "OAuth 2.0");
//! assert!(token["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object());
//! assert!(token["responses"]["401"].is_object());
//! ```

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Paths, PathsBuilder, Required, ResponseBuilder};

use crate::{
    AuthorizationServer, INTROSPECTION_PATH, JWKS_PATH, METADATA_PATH, REVOCATION_PATH, TOKEN_PATH,
};

/// The tag of every route described here.
pub const TAG: &str = "OAuth 2.0";

fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

/// The form body of a request, with its fields; `required` first.
fn form(
    required: &[(&str, &str)],
    optional: &[(&str, &str)],
) -> utoipa::openapi::request_body::RequestBody {
    let mut object = ObjectBuilder::new().schema_type(Type::Object);
    for (name, description) in required {
        object = object.property(*name, string(description)).required(*name);
    }
    for (name, description) in optional {
        object = object.property(*name, string(description));
    }
    RequestBodyBuilder::new()
        .required(Some(Required::True))
        .content(
            "application/x-www-form-urlencoded",
            ContentBuilder::new().schema(Some(object)).build(),
        )
        .build()
}

/// A JSON answer whose members are `fields`.
fn json(description: &str, fields: &[(&str, Type, &str)]) -> utoipa::openapi::Response {
    let mut object = ObjectBuilder::new().schema_type(Type::Object);
    for (name, kind, about) in fields {
        object = object.property(
            *name,
            ObjectBuilder::new()
                .schema_type(kind.clone())
                .description(Some(*about)),
        );
    }
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(object)).build(),
        )
        .build()
}

/// The RFC 6749 §5.2 error answer.
fn error(description: &str) -> utoipa::openapi::Response {
    json(
        description,
        &[
            ("error", Type::String, "the RFC 6749 §5.2 error code"),
            ("error_description", Type::String, "what went wrong"),
        ],
    )
}

/// A client-authenticated endpoint's operation: its summary, form and success answer.
fn client_operation(
    summary: &str,
    body: utoipa::openapi::request_body::RequestBody,
    ok: utoipa::openapi::Response,
) -> PathItem {
    let operation = OperationBuilder::new()
        .tag(TAG)
        .summary(Some(summary))
        .request_body(Some(body))
        .response("200", ok)
        .response(
            "400",
            error("a malformed request, an unsupported grant, an invalid scope or DPoP proof"),
        )
        .response(
            "401",
            error("invalid_client: unknown client or wrong secret (with a Basic challenge)"),
        )
        .response(
            "429",
            ResponseBuilder::new()
                .description("too many failed client authentications; see Retry-After")
                .build(),
        )
        .response(
            "503",
            error("temporarily_unavailable: client authentication could not be completed"),
        )
        .build();
    PathItem::new(HttpMethod::Post, operation)
}

fn document(summary: &str) -> PathItem {
    let operation = OperationBuilder::new()
        .tag(TAG)
        .summary(Some(summary))
        .response(
            "200",
            ResponseBuilder::new()
                .description("the JSON document")
                .content("application/json", ContentBuilder::new().build())
                .build(),
        )
        .build();
    PathItem::new(HttpMethod::Get, operation)
}

const CLIENT_FIELDS: [(&str, &str); 2] = [
    (
        "client_id",
        "client_secret_post: the client's id (or HTTP Basic)",
    ),
    (
        "client_secret",
        "client_secret_post: the client's secret (or HTTP Basic)",
    ),
];

/// The OpenAPI paths of `server`'s routes.
pub fn paths(server: &AuthorizationServer) -> Paths {
    let mut paths = PathsBuilder::new();
    for path in server.paths() {
        let item = match path {
            TOKEN_PATH => client_operation(
                "Issue an access token (RFC 6749 §4.4 client_credentials; DPoP-bound with a DPoP proof, RFC 9449 §5)",
                form(
                    &[("grant_type", "client_credentials")],
                    &[
                        (
                            "scope",
                            "space-separated scopes; all of the client's by default",
                        ),
                        CLIENT_FIELDS[0],
                        CLIENT_FIELDS[1],
                    ],
                ),
                json(
                    "the token (RFC 6749 §5.1), never cached",
                    &[
                        ("access_token", Type::String, "the token"),
                        ("token_type", Type::String, "Bearer or DPoP"),
                        ("expires_in", Type::Integer, "lifetime in seconds"),
                        ("scope", Type::String, "the granted scopes"),
                    ],
                ),
            ),
            REVOCATION_PATH => client_operation(
                "Revoke one of the client's tokens (RFC 7009)",
                form(
                    &[("token", "the token to revoke")],
                    &[
                        ("token_type_hint", "advisory"),
                        CLIENT_FIELDS[0],
                        CLIENT_FIELDS[1],
                    ],
                ),
                ResponseBuilder::new()
                    .description("revoked, or nothing to revoke (RFC 7009 §2.2)")
                    .build(),
            ),
            INTROSPECTION_PATH => client_operation(
                "Tell what a token stands for (RFC 7662)",
                form(
                    &[("token", "the token to introspect")],
                    &[
                        ("token_type_hint", "advisory"),
                        CLIENT_FIELDS[0],
                        CLIENT_FIELDS[1],
                    ],
                ),
                json(
                    "the token's state (RFC 7662 §2.2); only {\"active\": false} when inactive",
                    &[
                        ("active", Type::Boolean, "whether the token is active"),
                        ("client_id", Type::String, "the client it was issued to"),
                        ("scope", Type::String, "its scopes"),
                        ("exp", Type::Integer, "when it expires"),
                    ],
                ),
            ),
            METADATA_PATH => document("The authorization server's metadata (RFC 8414)"),
            JWKS_PATH => document("The public keys tokens are signed with (RFC 7517)"),
            _ => continue,
        };
        paths = paths.path(path, item);
    }
    paths.build()
}
