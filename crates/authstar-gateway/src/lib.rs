//! authstar in front of any service, in any language: a route [`Policy`] (TOML, checked at
//! start) that a Rust service applies as a tower layer ([`PolicyLayer`]) and that the gateway's
//! forward-auth check ([`ForwardAuth`]) applies for nginx `auth_request`, Caddy `forward_auth`
//! and Traefik `ForwardAuth`. Both decide with the same [`authstar::Guards`] as the axum and
//! gRPC adapters; the credentials are read by the same `AuthstarLayer`.
//!
//! ```
//! use authstar::network::Networks;
//! use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
//! use authstar_gateway::{ForwardAuth, Identity, IdentityHeaders, Policy, PolicyLayer, Proxy};
//!
//! let auth = AuthstarLayer::builder()
//!     .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
//!     .peer_address(|_: &http::Extensions| None)
//!     .build()
//!     .unwrap();
//! let policy = Policy::from_toml("[[route]]\npath = \"/*\"\nallow = \"authenticated\"\n").unwrap();
//! let check = tower::ServiceBuilder::new()
//!     .layer(auth.clone())
//!     .layer(PolicyLayer::new(&auth, policy))
//!     .service(Identity::<AuthstarClient, String>::new(auth.info().clone(), IdentityHeaders::default()));
//! let proxies = Networks::parse(["127.0.0.1/32"]).unwrap();
//! let check = ForwardAuth::new(check, Proxy::Nginx, proxies, |_: &http::Extensions| None);
//! // Serve `check` at the URL the proxy's configuration names (authstar gateway does).
//! # let _ = check;
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

#[cfg(feature = "envoy")]
pub mod envoy;
mod forward;
mod layer;
mod policy;

pub use forward::{ForwardAuth, Identity, IdentityHeaders, Proxy, STATUS_HEADER};
pub use layer::{PolicyLayer, PolicyService};
pub use policy::{Policy, PolicyError};
