//! The builder's methods that add credential methods: one `on_auth_*` per method, each pushing
//! the method's module onto the ordered list it belongs to.

use std::future::Future;
use std::marker::PhantomData;

use http::request::Parts;

use super::AuthstarLayerBuilder;
use crate::authenticator::{Authenticator, IntoVerdict, RequestAuthenticator};
use crate::credentials::dpop::{DpopToken, ProofVerifier};
use crate::method::basic::Basic;
use crate::method::bearer::Bearer;
use crate::method::dpop::DpopAuth;
use crate::method::request::FromRequest;
use crate::method::{Methods, Push};
use crate::{BasicCredentials, BearerToken, HeaderAuth};

impl<C, A, H, R> AuthstarLayerBuilder<C, Methods<A, H, R>> {
    fn map_methods<N>(self, f: impl FnOnce(Methods<A, H, R>) -> N) -> AuthstarLayerBuilder<C, N> {
        AuthstarLayerBuilder {
            methods: f(self.methods),
            realm: self.realm,
            enforce: self.enforce,
            exemptions: self.exemptions,
            backend_error: self.backend_error,
            max_credential_len: self.max_credential_len,
            deadline: self.deadline,
            throttle: self.throttle,
            addresses: self.addresses,
            _client: PhantomData,
        }
    }

    /// Adds a method that reads the `Authorization` header.
    fn authorization<M>(self, method: M) -> AuthstarLayerBuilder<C, Methods<A::Output, H, R>>
    where
        A: Push<M>,
    {
        self.map_methods(|methods| Methods {
            authorization: methods.authorization.push(method),
            headers: methods.headers,
            request: methods.request,
        })
    }

    /// Authenticates `Authorization: Bearer <token>` (RFC 6750 §2.1) with `authenticate`.
    ///
    /// ```
    /// use authstar::{AuthMethod, AuthstarClient, AuthstarLayer};
    ///
    /// let layer = AuthstarLayer::builder()
    ///     // The closure's argument is a `BearerToken`: no annotation needed.
    ///     .on_auth_bearer(|token| async move {
    ///         (token.as_str() == "secret-token").then(|| AuthstarClient::new("svc", ["read"]))
    ///     })
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(layer.info().methods(), [AuthMethod::Bearer]);
    /// ```
    ///
    /// Each method is configured once ([`ConfigError::DuplicateMethod`](crate::ConfigError::DuplicateMethod)); for tokens of several
    /// kinds (your own and an identity provider's), chain their authenticators with
    /// [`Authenticator::or`].
    pub fn on_auth_bearer<F, Fut>(
        self,
        authenticate: F,
    ) -> AuthstarLayerBuilder<C, Methods<A::Output, H, R>>
    where
        F: Fn(BearerToken) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoVerdict<Client = C>,
        C: Send + 'static,
        A: Push<Bearer<F>>,
    {
        self.on_auth_bearer_with(authenticate)
    }

    /// [`on_auth_bearer`](Self::on_auth_bearer) with any [`Authenticator`]: a type of yours, a
    /// [`sync_fn`](crate::sync_fn), a JWT verifier, several chained with [`Authenticator::or`].
    pub fn on_auth_bearer_with<T>(
        self,
        authenticator: T,
    ) -> AuthstarLayerBuilder<C, Methods<A::Output, H, R>>
    where
        T: Authenticator<BearerToken, Client = C>,
        A: Push<Bearer<T>>,
    {
        self.authorization(Bearer(authenticator))
    }

    /// Authenticates `Authorization: Basic <base64(user-id:password)>` (RFC 7617).
    ///
    /// ```
    /// use authstar::{AuthMethod, AuthstarClient, AuthstarLayer};
    ///
    /// let layer = AuthstarLayer::builder()
    ///     .on_auth_basic(|credentials| async move {
    ///         let ok = credentials.username() == "svc" && credentials.password() == "pw";
    ///         Ok::<_, std::io::Error>(ok.then(|| AuthstarClient::new("svc", ["read"])))
    ///     })
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(layer.info().methods(), [AuthMethod::Basic]);
    /// ```
    pub fn on_auth_basic<F, Fut>(
        self,
        authenticate: F,
    ) -> AuthstarLayerBuilder<C, Methods<A::Output, H, R>>
    where
        F: Fn(BasicCredentials) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoVerdict<Client = C>,
        C: Send + 'static,
        A: Push<Basic<F>>,
    {
        self.on_auth_basic_with(authenticate)
    }

    /// [`on_auth_basic`](Self::on_auth_basic) with any [`Authenticator`] (a type of yours, a
    /// [`sync_fn`](crate::sync_fn), authstar-registry's client secrets).
    pub fn on_auth_basic_with<T>(
        self,
        authenticator: T,
    ) -> AuthstarLayerBuilder<C, Methods<A::Output, H, R>>
    where
        T: Authenticator<BasicCredentials, Client = C>,
        A: Push<Basic<T>>,
    {
        self.authorization(Basic(authenticator))
    }

    /// Authenticates DPoP-bound tokens, `Authorization: DPoP <token>` with a `DPoP` proof
    /// (RFC 9449 §7): the proof is checked first (a bad one is `error="invalid_dpop_proof"`),
    /// then the token with the proven key's thumbprint (see [`credentials::dpop`](crate::credentials::dpop)).
    /// Sits beside `on_auth_bearer`: one `Authorization` header carries one or the other.
    pub fn on_auth_dpop<P, T>(
        self,
        dpop: DpopAuth<P, T>,
    ) -> AuthstarLayerBuilder<C, Methods<A::Output, H, R>>
    where
        P: ProofVerifier,
        T: Authenticator<DpopToken, Client = C>,
        A: Push<DpopAuth<P, T>>,
    {
        self.authorization(dpop)
    }

    /// Authenticates with a named header (the Python package's `HeaderAuth`). Call it again to
    /// accept several headers; they are tried in the order added.
    ///
    /// ```
    /// use authstar::{AuthstarClient, AuthstarLayer, HeaderAuth};
    ///
    /// let layer = AuthstarLayer::builder()
    ///     .on_auth_header(HeaderAuth::x_api_key(|key| async move {
    ///         (key.as_str() == "k1").then(|| AuthstarClient::new("svc", ["read"]))
    ///     }))
    ///     .on_auth_header(HeaderAuth::new("x-service-token", |key| async move {
    ///         (key.as_str() == "t1").then(|| AuthstarClient::new("internal", ["admin"]))
    ///     }))
    ///     .build()
    ///     .unwrap();
    /// let labels: Vec<_> = layer.info().methods().iter().map(|m| m.label()).collect();
    /// assert_eq!(labels, ["x-api-key", "x-service-token"]);
    /// ```
    pub fn on_auth_header<T>(
        self,
        header: HeaderAuth<T>,
    ) -> AuthstarLayerBuilder<C, Methods<A, H::Output, R>>
    where
        T: Authenticator<crate::HeaderCredential, Client = C>,
        H: Push<HeaderAuth<T>>,
    {
        self.map_methods(|methods| Methods {
            authorization: methods.authorization,
            headers: methods.headers.push(header),
            request: methods.request,
        })
    }

    /// Authenticates from the request head when no credential header was presented (the Python
    /// package's `on_auth_scope`): a session inserted by an outer layer, a client certificate, ...
    ///
    /// ```
    /// use authstar::{AuthMethod, AuthstarClient, AuthstarLayer};
    ///
    /// #[derive(Clone)]
    /// struct Session { client_id: String }
    ///
    /// let layer = AuthstarLayer::builder()
    ///     .on_auth_request(|parts| {
    ///         let session = parts.extensions.get::<Session>().cloned();
    ///         async move { session.map(|s| AuthstarClient::new(s.client_id, ["web"])) }
    ///     })
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(layer.info().methods(), [AuthMethod::Request]);
    /// ```
    pub fn on_auth_request<F, Fut>(
        self,
        authenticate: F,
    ) -> AuthstarLayerBuilder<C, Methods<A, H, R::Output>>
    where
        F: for<'a> Fn(&'a Parts) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoVerdict<Client = C>,
        C: Send + 'static,
        R: Push<FromRequest<F>>,
    {
        self.on_auth_request_with(authenticate)
    }

    /// [`on_auth_request`](Self::on_auth_request) with any [`RequestAuthenticator`].
    pub fn on_auth_request_with<T>(
        self,
        authenticator: T,
    ) -> AuthstarLayerBuilder<C, Methods<A, H, R::Output>>
    where
        T: RequestAuthenticator<Client = C>,
        R: Push<FromRequest<T>>,
    {
        self.map_methods(|methods| Methods {
            authorization: methods.authorization,
            headers: methods.headers,
            request: methods.request.push(FromRequest(authenticator)),
        })
    }
}
