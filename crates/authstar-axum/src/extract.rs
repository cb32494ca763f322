//! Extractors that hand the authenticated client to a handler.
//!
//! They only read the [`Outcome`](authstar::Outcome) the layer stored: every credential type the
//! layer accepts works on the same route, and a route that allows anonymous callers does not
//! refuse a credential of another scheme (unlike `Option<TypedHeader<Authorization<Bearer>>>`).
//!
//! They take the layer's challenges from a [`RouteSecurity`] in the router's state
//! (`.with_state(security)`, or `FromRef` from your own state). Forgetting it is a compile
//! error that names the missing state: rustc infers the router's state as
//! `RouteSecurity<C>` and reports ``expected `MethodRouter<()>`, found
//! `MethodRouter<RouteSecurity<...>>` `` (or, at `axum::serve`, that
//! `Router<RouteSecurity<...>>` is not a service):
//!
//! ```compile_fail,E0308
//! use authstar::AuthstarClient;
//! use authstar_axum::Authenticated;
//! use axum::{Router, routing::get};
//!
//! async fn me(Authenticated(client): Authenticated<AuthstarClient>) -> String {
//!     client.client_id().to_owned()
//! }
//! // Missing: `.with_state(RouteSecurity::new(&layer))`.
//! let app: Router = Router::new().route("/me", get(me));
//! ```
//!
//! (Reading the layer's challenges without state would need the layer's response future to
//! hold its configuration on every request: measured at +47 instructions on an anonymous
//! request, +15 %, so authstar keeps the state.)

use std::fmt;
use std::marker::PhantomData;

use authstar::Client;
use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;

use crate::rejection::AuthRejection;
use crate::{RouteSecurity, ScopeMatch};

/// The authenticated client (the Python package's `Annotated[Client, Security(rs.authenticated)]`);
/// refuses the request with 401 otherwise.
///
/// As `Option<Authenticated<C>>` it allows anonymous callers: `None` when no credential was
/// presented (or the authenticator was unavailable and the layer continues anonymously), but a
/// presented credential that is malformed or rejected is still refused with 401, so a client
/// with a bad token learns about it.
///
/// ```
/// use authstar::AuthstarClient;
/// use authstar_axum::Authenticated;
///
/// async fn me(Authenticated(client): Authenticated<AuthstarClient>) -> String {
///     client.client_id().to_owned()
/// }
///
/// async fn greeting(client: Option<Authenticated<AuthstarClient>>) -> String {
///     match client {
///         Some(Authenticated(client)) => format!("hello {}", client.client_id()),
///         None => "hello stranger".to_owned(),
///     }
/// }
/// # let _ = (me, greeting);
/// ```
#[derive(Clone, Debug)]
pub struct Authenticated<C>(pub C);

impl<C, S> FromRequestParts<S> for Authenticated<C>
where
    C: Client,
    RouteSecurity<C>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AuthRejection> {
        let security = RouteSecurity::<C>::from_ref(state);
        let (client, _) = security.stored_client(&parts.extensions)?;
        Ok(Self(client.clone()))
    }
}

impl<C, S> OptionalFromRequestParts<S> for Authenticated<C>
where
    C: Client,
    RouteSecurity<C>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, AuthRejection> {
        let security = RouteSecurity::<C>::from_ref(state);
        match security.stored_client(&parts.extensions) {
            Ok((client, _)) => Ok(Some(Self(client.clone()))),
            Err(rejection) if rejection.refusal().is_anonymous() => Ok(None),
            Err(rejection) => Err(rejection),
        }
    }
}

/// A set of scopes a route requires, for the [`Scoped`] extractor; declare one with
/// [`scopes!`](crate::scopes).
pub trait ScopeRequirement: Send + Sync + 'static {
    /// The scopes.
    const SCOPES: &'static [&'static str];
    /// Whether any one of them is enough, or all are required.
    const MATCH: ScopeMatch;
}

/// Declares a [`ScopeRequirement`] type: `scopes!(Name = any ["a", "b"])` or
/// `scopes!(Name = all ["a", "b"])`.
///
/// ```
/// use authstar::AuthstarClient;
/// use authstar_axum::{Scoped, ScopeRequirement, scopes};
///
/// scopes!(ReportsRead = any ["reports:read", "admin"]);
/// scopes!(ReportsExport = all ["reports:read", "reports:export"]);
///
/// async fn export(Scoped(client, _): Scoped<AuthstarClient, ReportsExport>) -> String {
///     client.client_id().to_owned()
/// }
/// assert_eq!(ReportsExport::MATCH, authstar_axum::ScopeMatch::All);
/// assert_eq!(ReportsRead::MATCH, authstar_axum::ScopeMatch::Any);
/// # let _ = export;
/// ```
#[macro_export]
macro_rules! scopes {
    ($(#[$meta:meta])* $vis:vis $name:ident = any [$($scope:expr),+ $(,)?]) => {
        $crate::scopes!(@define $(#[$meta])* $vis $name, Any, [$($scope),+]);
    };
    ($(#[$meta:meta])* $vis:vis $name:ident = all [$($scope:expr),+ $(,)?]) => {
        $crate::scopes!(@define $(#[$meta])* $vis $name, All, [$($scope),+]);
    };
    (@define $(#[$meta:meta])* $vis:vis $name:ident, $matching:ident, [$($scope:expr),+]) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default)]
        $vis struct $name;
        impl $crate::ScopeRequirement for $name {
            const SCOPES: &'static [&'static str] = &[$($scope),+];
            const MATCH: $crate::ScopeMatch = $crate::ScopeMatch::$matching;
        }
    };
}

/// The authenticated client holding the scopes `R` requires (401 when unauthenticated, 403
/// without the scopes).
pub struct Scoped<C, R>(pub C, pub PhantomData<R>);

impl<C: fmt::Debug, R> fmt::Debug for Scoped<C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Scoped").field(&self.0).finish()
    }
}

impl<C, R, S> FromRequestParts<S> for Scoped<C, R>
where
    C: Client,
    R: ScopeRequirement,
    RouteSecurity<C>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AuthRejection> {
        let security = RouteSecurity::<C>::from_ref(state);
        let (client, method) = security.stored_client(&parts.extensions)?;
        security.authorize_scopes(client, method, R::SCOPES, R::MATCH)?;
        Ok(Self(client.clone(), PhantomData))
    }
}
