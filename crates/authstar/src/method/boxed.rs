//! [`BoxMethods`]: a method set behind one pointer, its futures boxed, for
//! [`BoxAuthstarLayer`](crate::BoxAuthstarLayer).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::request::Parts;
use http::{HeaderName, HeaderValue};

use super::{Description, Identity, MethodSet, Presented, Presenting, private};
use crate::authenticator::{Started, Verdict};
use crate::credentials::authorization::Scheme;
use crate::{Attempt, AuthMethod, BasicCredentials};

/// A type-erased method set: the authenticators behind one pointer, their futures boxed.
#[doc(hidden)]
pub struct BoxMethods<C> {
    inner: Arc<dyn ErasedMethods<C>>,
    /// What the erased set's constants said, kept to answer at run time.
    reads_parts: bool,
    may_add_headers: bool,
    first_scheme: Option<Scheme>,
}

impl<C> private::Sealed for BoxMethods<C> {}

impl<C: 'static> std::fmt::Debug for BoxMethods<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut described = Vec::new();
        self.inner.describe(&mut described);
        let methods: Vec<_> = described.iter().map(|d| d.method.label()).collect();
        f.debug_struct("BoxMethods")
            .field("methods", &methods)
            .finish()
    }
}

/// A boxed authentication future.
type BoxVerdictFuture<C> = Pin<Box<dyn Future<Output = Verdict<C>> + Send + 'static>>;

/// [`MethodSet`] made object-safe.
trait ErasedMethods<C>: Send + Sync + 'static {
    fn accepts(&self, scheme: Scheme) -> bool;
    fn start(&self, request: &Presenting<'_>) -> Presented<BoxVerdictFuture<C>, C>;
    fn start_parts(&self, parts: &Parts) -> Presented<BoxVerdictFuture<C>, C>;
    fn identity<'s, 'r>(&'s self, request: &Presenting<'r>) -> Option<Identity<'s, 'r>>;
    fn describe(&self, into: &mut Vec<Description>);
    fn basic(&self, credentials: BasicCredentials) -> Option<Started<BoxVerdictFuture<C>, C>>;
    fn success_header(&self, method: &AuthMethod) -> Option<(HeaderName, HeaderValue)>;
    fn refusal_header(&self, attempt: &Attempt) -> Option<(HeaderName, HeaderValue)>;
}

fn boxed<C, F: Future<Output = Verdict<C>> + Send + 'static>(future: F) -> BoxVerdictFuture<C> {
    Box::pin(future)
}

impl<C: 'static, M: MethodSet<C>> ErasedMethods<C> for M {
    fn accepts(&self, scheme: Scheme) -> bool {
        MethodSet::accepts(self, scheme)
    }
    fn start(&self, request: &Presenting<'_>) -> Presented<BoxVerdictFuture<C>, C> {
        MethodSet::start_with(self, request, boxed)
    }
    fn start_parts(&self, parts: &Parts) -> Presented<BoxVerdictFuture<C>, C> {
        MethodSet::start_parts_with(self, parts, boxed)
    }
    fn identity<'s, 'r>(&'s self, request: &Presenting<'r>) -> Option<Identity<'s, 'r>> {
        MethodSet::identity(self, request)
    }
    fn describe(&self, into: &mut Vec<Description>) {
        MethodSet::describe(self, into);
    }
    fn basic(&self, credentials: BasicCredentials) -> Option<Started<BoxVerdictFuture<C>, C>> {
        MethodSet::basic(self, credentials).map(|started| started.map(boxed))
    }
    fn success_header(&self, method: &AuthMethod) -> Option<(HeaderName, HeaderValue)> {
        MethodSet::success_header(self, method)
    }
    fn refusal_header(&self, attempt: &Attempt) -> Option<(HeaderName, HeaderValue)> {
        MethodSet::refusal_header(self, attempt)
    }
}

impl<C: 'static> BoxMethods<C> {
    pub(crate) fn new<M: MethodSet<C>>(methods: M) -> Self {
        Self {
            reads_parts: M::READS_PARTS,
            may_add_headers: M::MAY_ADD_HEADERS,
            first_scheme: methods.first_scheme(),
            inner: Arc::new(methods),
        }
    }
}

impl<C: Send + 'static> MethodSet<C> for BoxMethods<C> {
    type Future = BoxVerdictFuture<C>;
    // Decided at run time, from what the erased set said.
    const READS_PARTS: bool = true;
    const MAY_ADD_HEADERS: bool = true;

    fn first_scheme(&self) -> Option<Scheme> {
        self.first_scheme
    }
    fn accepts(&self, scheme: Scheme) -> bool {
        self.inner.accepts(scheme)
    }
    fn start_with<W>(
        &self,
        request: &Presenting<'_>,
        wrap: impl Fn(Self::Future) -> W + Copy,
    ) -> Presented<W, C> {
        self.inner.start(request).map_future(wrap)
    }
    fn start_parts_with<W>(
        &self,
        parts: &Parts,
        wrap: impl Fn(Self::Future) -> W + Copy,
    ) -> Presented<W, C> {
        if !self.reads_parts {
            return Presented::Nothing;
        }
        self.inner.start_parts(parts).map_future(wrap)
    }
    fn identity<'s, 'r>(&'s self, request: &Presenting<'r>) -> Option<Identity<'s, 'r>> {
        self.inner.identity(request)
    }
    fn describe(&self, into: &mut Vec<Description>) {
        self.inner.describe(into);
    }
    fn basic(&self, credentials: BasicCredentials) -> Option<Started<Self::Future, C>> {
        self.inner.basic(credentials)
    }
    fn success_header(&self, method: &AuthMethod) -> Option<(HeaderName, HeaderValue)> {
        if !self.may_add_headers {
            return None;
        }
        self.inner.success_header(method)
    }
    fn refusal_header(&self, attempt: &Attempt) -> Option<(HeaderName, HeaderValue)> {
        self.inner.refusal_header(attempt)
    }
}
