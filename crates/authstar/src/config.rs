//! The built configuration every [`AuthstarMiddleware`](crate::AuthstarMiddleware) shares, the
//! public view of it ([`LayerInfo`]), and the rules that turn an authenticator's verdict into
//! the next step (store the outcome, refuse with 401/503, or let an exempt request through).

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::header::{ACCESS_CONTROL_REQUEST_METHOD, ORIGIN};
use http::{HeaderValue, Method, Request, Response};

use http::HeaderName;

use crate::authenticator::Verdict;
use crate::challenge::{Challenges, service_unavailable};
use crate::method::{MethodSet, Presenting};
use crate::metrics::{self, Reported};
use crate::network::Addresses;
use crate::outcome::LayerId;
use crate::throttle::FailureThrottle;
use crate::{Attempt, AuthMethod, Client, Failure, Outcome};

type Predicate = Arc<dyn Fn(&RequestHead<'_>) -> bool + Send + Sync>;

/// A borrowed view of a request's head, for [`AuthstarLayerBuilder::except_when`](crate::AuthstarLayerBuilder::except_when). (A view rather
/// than `&Parts`: taking a request apart and back together on every anonymous request costs
/// copies the hot path does not need.)
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct RequestHead<'a> {
    /// The method.
    pub method: &'a http::Method,
    /// The URI.
    pub uri: &'a http::Uri,
    /// The headers.
    pub headers: &'a http::HeaderMap,
    /// The extensions.
    pub extensions: &'a http::Extensions,
}

impl<'a> RequestHead<'a> {
    /// The head of a request taken apart.
    pub fn from_parts(parts: &'a http::request::Parts) -> Self {
        Self {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            extensions: &parts.extensions,
        }
    }

    /// The head of `request`.
    pub fn of<B>(request: &'a http::Request<B>) -> Self {
        Self {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
            extensions: request.extensions(),
        }
    }
}

/// A sleep of the caller's runtime (the core has none of its own).
pub(crate) type SleepFn = Arc<
    dyn Fn(Duration) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

/// The longest an authenticator may wait, and the runtime's sleep that measures it.
#[derive(Clone)]
pub(crate) struct Deadline {
    pub(crate) limit: Duration,
    pub(crate) sleep: SleepFn,
}

impl Deadline {
    /// A timer for one authentication, started now.
    pub(crate) fn start(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        (self.sleep)(self.limit)
    }

    /// The backend error an authenticator that outlived its deadline answers.
    pub(crate) fn expired(&self) -> crate::authenticator::BoxError {
        format!("the authenticator did not answer within {:?}", self.limit).into()
    }
}

/// Requests the layer lets through without authentication while enforcing.
#[derive(Clone, Default)]
pub(crate) struct Exemptions {
    /// CORS preflights, when the builder was told a CORS layer answers them.
    pub(crate) cors_preflight: bool,
    pub(crate) paths: HashSet<String>,
    pub(crate) predicate: Option<Predicate>,
}

/// The layer's configuration, shared by every service it makes.
pub(crate) struct Config<C, M> {
    pub(crate) methods: M,
    pub(crate) info: LayerInfo,
    pub(crate) enforce: bool,
    pub(crate) exemptions: Exemptions,
    pub(crate) retry_after: Option<HeaderValue>,
    pub(crate) max_credential_len: usize,
    /// How long an authenticator may wait before its answer is a backend error.
    pub(crate) deadline: Option<Deadline>,
    /// The throttle, also here so the request path reads it without a second indirection.
    pub(crate) throttle: Option<FailureThrottle>,
    /// Where a request's client is (for the DPoP method's origin).
    pub(crate) addresses: Addresses,
    pub(crate) _client: PhantomData<fn() -> C>,
}

struct Shared {
    id: LayerId,
    methods: Vec<AuthMethod>,
    challenges: Challenges,
    enforcing: bool,
    applied: AtomicBool,
    throttle: Option<FailureThrottle>,
    addresses: Addresses,
}

/// A header the refusal of a request's credential carries (a fresh DPoP nonce), put in the
/// request's extensions so that a guard answering the 401 later sends it too.
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusalHeader(pub HeaderName, pub HeaderValue);

/// A cheap, cloneable view of a built layer for guards in framework adapters.
///
/// ```
/// # use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
/// let layer = AuthstarLayer::builder()
///     .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
///     .build()
///     .unwrap();
/// let info = layer.info().clone();
/// assert!(!info.is_applied());
/// let _service = tower_layer::Layer::layer(&layer, ());
/// assert!(info.is_applied());
/// ```
#[derive(Clone)]
pub struct LayerInfo(Arc<Shared>);

impl LayerInfo {
    pub(crate) fn new(
        methods: Vec<AuthMethod>,
        challenges: Challenges,
        enforcing: bool,
        throttle: Option<FailureThrottle>,
        addresses: Addresses,
    ) -> Self {
        Self(Arc::new(Shared {
            id: LayerId::next(),
            methods,
            challenges,
            enforcing,
            applied: AtomicBool::new(false),
            throttle,
            addresses,
        }))
    }

    /// Records that the layer has wrapped a service.
    pub(crate) fn mark_applied(&self) {
        self.0.applied.store(true, Ordering::Relaxed);
    }

    /// This layer's id: what its [`Outcome::Authenticated`] carries.
    pub fn id(&self) -> LayerId {
        self.0.id
    }

    /// The outcome in `extensions` as this layer's guards must read it: a client only when
    /// this layer authenticated it. Another layer with the same client type (an outer router's
    /// layer around a nested router's) stores its clients in the same slot; to this layer's
    /// guards such a request presented nothing. A failed attempt is returned whichever layer
    /// recorded it (it only shapes the refusal's challenge).
    ///
    /// ```
    /// use authstar::{AuthMethod, AuthstarClient, AuthstarLayer, Outcome};
    /// let build = || AuthstarLayer::builder()
    ///     .on_auth_bearer(|_: authstar::BearerToken| async { None::<AuthstarClient> })
    ///     .build().unwrap();
    /// let (outer, inner) = (build(), build());
    /// let mut extensions = http::Extensions::new();
    /// extensions.insert(Outcome::Authenticated {
    ///     client: AuthstarClient::new("svc", ["read"]),
    ///     method: AuthMethod::Bearer,
    ///     layer: outer.info().id(),
    /// });
    /// assert!(outer.info().outcome::<AuthstarClient>(&extensions).is_some());
    /// assert!(inner.info().outcome::<AuthstarClient>(&extensions).is_none());
    /// ```
    pub fn outcome<'a, C: Client>(
        &self,
        extensions: &'a http::Extensions,
    ) -> Option<&'a Outcome<C>> {
        match Outcome::<C>::get(extensions)? {
            Outcome::Authenticated { layer, .. } | Outcome::Failed { layer, .. }
                if *layer != self.0.id =>
            {
                None
            }
            outcome => Some(outcome),
        }
    }

    /// The layer's methods, in precedence order: the `Authorization` schemes, the named
    /// headers in the order added, the request authenticator.
    pub fn methods(&self) -> &[AuthMethod] {
        &self.0.methods
    }

    /// The layer's challenges.
    pub(crate) fn challenges(&self) -> &Challenges {
        &self.0.challenges
    }

    /// The Basic challenge of this layer's realm, whether or not the layer accepts Basic: what
    /// an OAuth 2.0 endpoint sends with `invalid_client` (RFC 6749 §5.2).
    ///
    /// ```
    /// # let layer = authstar::AuthstarLayer::builder()
    /// #     .on_auth_bearer(|_: authstar::BearerToken| async { None::<authstar::AuthstarClient> })
    /// #     .build().unwrap();
    /// assert_eq!(layer.info().basic_challenge(), r#"Basic realm="authstar", charset="UTF-8""#);
    /// ```
    pub fn basic_challenge(&self) -> HeaderValue {
        self.0.challenges.basic()
    }

    /// Whether the layer answers 401 itself.
    pub(crate) fn is_enforcing(&self) -> bool {
        self.0.enforcing
    }

    /// Whether the layer has wrapped a service. A guard that finds no outcome on a request while
    /// this is `false` has found a misconfiguration (the layer was never installed), not an
    /// anonymous client.
    pub fn is_applied(&self) -> bool {
        self.0.applied.load(Ordering::Relaxed)
    }

    /// Whether the layer can find a request's address at all (it was given
    /// [`peer_address`](crate::AuthstarLayerBuilder::peer_address)): without it, an
    /// internal-network guard admits no one.
    ///
    /// ```
    /// # use authstar::{AuthstarClient, AuthstarLayer, BearerToken};
    /// let layer = AuthstarLayer::builder()
    ///     .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
    ///     .build()
    ///     .unwrap();
    /// assert!(!layer.info().finds_addresses());
    /// ```
    pub fn finds_addresses(&self) -> bool {
        self.0.addresses.peer.is_some()
    }

    /// The address of the client that sent a request: its peer (read where
    /// [`peer_address`](crate::AuthstarLayerBuilder::peer_address) says), or the client a
    /// [trusted proxy](crate::AuthstarLayerBuilder::trusted_proxies) names. `None` when it
    /// cannot be identified: no peer address, or a forwarding proxy that is not trusted.
    pub fn client_address(
        &self,
        extensions: &http::Extensions,
        headers: &http::HeaderMap,
    ) -> Option<std::net::IpAddr> {
        self.0.addresses.client(extensions, headers)
    }

    /// The layer's failed-authentication throttle, for endpoints that authenticate clients
    /// themselves (the token endpoint's `client_secret_post`).
    pub fn throttle(&self) -> Option<&FailureThrottle> {
        self.0.throttle.as_ref()
    }
}

impl fmt::Debug for LayerInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerInfo")
            .field("methods", &self.0.methods)
            .field("applied", &self.is_applied())
            .finish()
    }
}

impl<C: Client, M: MethodSet<C>> Config<C, M> {
    /// Applies an authenticator's verdict: records the outcome in `request`, or returns the
    /// response that refuses it.
    #[inline]
    pub(crate) fn conclude<B, R: Default>(
        &self,
        request: &mut Request<B>,
        method: AuthMethod,
        verdict: Verdict<C>,
    ) -> Option<Response<R>> {
        match verdict {
            Verdict::Authenticated(client) if client.is_authenticated() => {
                tracing::debug!(method = %method, client_id = client.client_id(), "authstar: authenticated");
                metrics::outcome(&method, Reported::Authenticated);
                request.extensions_mut().insert(Outcome::Authenticated {
                    client,
                    method,
                    layer: self.info.id(),
                });
                None
            }
            // The request authenticator found nothing to authenticate with (no session). A
            // placeholder client (`AuthstarClient::anonymous()`) is no client, here and below.
            Verdict::Authenticated(_) | Verdict::Rejected if method == AuthMethod::Request => {
                self.anonymous(request, None)
            }
            // A credential that was not accepted.
            Verdict::Authenticated(_) | Verdict::Rejected => {
                tracing::debug!(method = %method, "authstar: rejected");
                metrics::outcome(&method, Reported::Rejected);
                self.charge(request);
                let attempt = Attempt {
                    method,
                    failure: Failure::Denied,
                };
                self.anonymous(request, Some(attempt))
            }
            Verdict::Unavailable(error) => {
                tracing::warn!(method = %method, error = %error, "authstar: authenticator failed");
                metrics::outcome(&method, Reported::Unavailable);
                if let Some(retry_after) = &self.retry_after {
                    return Some(service_unavailable(retry_after));
                }
                let attempt = Attempt {
                    method,
                    failure: Failure::Unavailable,
                };
                self.anonymous(request, Some(attempt))
            }
        }
    }

    /// Applies a credential refused before any authenticator ran: one that could not be read,
    /// or a DPoP proof that failed. `charged` when it counts against the throttle (the method
    /// decides: a refused proof cost a signature check). A method may add a header to the
    /// refusal (a fresh DPoP nonce), in the layer's own 401 and in the extensions for a guard
    /// that answers the 401 later. Out of line: the request path stays small.
    #[cold]
    #[inline(never)]
    pub(crate) fn failed<B, R: Default>(
        &self,
        request: &mut Request<B>,
        attempt: Attempt,
        charged: bool,
    ) -> Option<Response<R>> {
        let reported = match attempt.failure {
            Failure::Malformed(_) => {
                tracing::debug!(method = %attempt.method, reason = %attempt.failure, "authstar: malformed credential");
                Reported::Malformed
            }
            _ => {
                tracing::debug!(method = %attempt.method, reason = %attempt.failure, "authstar: credential refused");
                Reported::Rejected
            }
        };
        metrics::outcome(&attempt.method, reported);
        if charged {
            self.charge(request);
        }
        let header = match M::MAY_ADD_HEADERS {
            true => self.methods.refusal_header(&attempt),
            false => None,
        };
        if let Some((name, value)) = &header {
            request
                .extensions_mut()
                .insert(RefusalHeader(name.clone(), value.clone()));
        }
        let mut refusal = self.anonymous(request, Some(attempt));
        if let (Some(refusal), Some((name, value))) = (&mut refusal, header) {
            refusal.headers_mut().insert(name, value);
        }
        refusal
    }

    /// Counts the request's credential as failed, against its address and the identity it
    /// claims, as the methods read it (the credential that decided, never another).
    fn charge<B>(&self, request: &Request<B>) {
        let Some(throttle) = &self.throttle else {
            return;
        };
        let presenting = Presenting::new(
            RequestHead::of(request),
            &self.methods,
            self.max_credential_len,
            &self.addresses,
        );
        let identity = self.methods.identity(&presenting);
        let claimed = identity
            .as_ref()
            .and_then(|(label, id)| Some((*label, id.as_deref()?)));
        throttle.failed(request.extensions(), request.headers(), claimed);
    }

    /// The header the response to a request `method` authenticated carries, if its method adds
    /// one (a compile-time `None` for layers without such a method).
    #[inline(always)]
    pub(crate) fn success_header(
        &self,
        method: &AuthMethod,
        verdict: &Verdict<C>,
    ) -> Option<(HeaderName, HeaderValue)> {
        if !M::MAY_ADD_HEADERS || !matches!(verdict, Verdict::Authenticated(_)) {
            return None;
        }
        self.methods.success_header(method)
    }

    /// Continues without a client: records the failed attempt, or answers 401 when enforcing.
    pub(crate) fn anonymous<B, R: Default>(
        &self,
        request: &mut Request<B>,
        attempt: Option<Attempt>,
    ) -> Option<Response<R>> {
        if self.enforce && !self.is_exempt(request) {
            let challenges = self.info.challenges();
            return Some(challenges.unauthorized(attempt.as_ref()));
        }
        if let Some(attempt) = attempt {
            request.extensions_mut().insert(Outcome::<C>::Failed {
                attempt,
                layer: self.info.id(),
            });
        }
        None
    }

    fn is_exempt<B>(&self, request: &Request<B>) -> bool {
        self.exemptions.paths.contains(request.uri().path())
            || (self.exemptions.cors_preflight && is_cors_preflight(request))
            || self
                .exemptions
                .predicate
                .as_ref()
                .is_some_and(|predicate| predicate(&RequestHead::of(request)))
    }
}

/// A CORS preflight (Fetch standard: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`), which carries no credentials by design, and no body: a
/// browser's preflight has no `Content-Type` and no body. Anything with one is a call (gRPC and
/// gRPC-Web ignore the HTTP method, so an `OPTIONS` with a frame is a call), never exempt. Only
/// HTTP/1, where the head says whether a body follows (RFC 9112 §6.3); over HTTP/2 a body needs
/// no header to announce it, so no request there is taken for a preflight: the CORS layer in
/// front answers those.
fn is_cors_preflight<B>(request: &Request<B>) -> bool {
    let headers = request.headers();
    request.version() <= http::Version::HTTP_11
        && request.method() == Method::OPTIONS
        && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
        && headers.contains_key(ORIGIN)
        && !headers.contains_key(http::header::CONTENT_TYPE)
        && !headers.contains_key(http::header::TRANSFER_ENCODING)
        && headers
            .get(http::header::CONTENT_LENGTH)
            .is_none_or(|length| length.as_bytes() == b"0")
}
