//! The ordered list of methods, in the type of the layer: `Cons<First, Cons<Second, Nil>>`.
//! Each step asks its method, then the rest; the future is an [`Either`] of theirs.

use std::future::{Future, Ready};
use std::pin::Pin;
use std::task::{Context, Poll};

use http::request::Parts;
use http::{HeaderName, HeaderValue};
use pin_project_lite::pin_project;

use super::{Description, Identity, Method, MethodSet, Presented, Presenting, private};
use crate::authenticator::{Started, Verdict};
use crate::credentials::authorization::Scheme;
use crate::{Attempt, AuthMethod, BasicCredentials};

/// The end of the list: no method.
#[derive(Clone, Copy, Debug, Default)]
#[doc(hidden)]
pub struct Nil;

/// A method, then the rest of the list.
#[derive(Clone, Debug)]
#[doc(hidden)]
pub struct Cons<First, Rest>(pub(crate) First, pub(crate) Rest);

impl private::Sealed for Nil {}
impl<F, R> private::Sealed for Cons<F, R> {}

impl<C: Send + 'static> MethodSet<C> for Nil {
    type Future = Ready<Verdict<C>>;
    const READS_PARTS: bool = false;
    const MAY_ADD_HEADERS: bool = false;

    #[inline(always)]
    fn first_scheme(&self) -> Option<Scheme> {
        None
    }
    #[inline(always)]
    fn accepts(&self, _: Scheme) -> bool {
        false
    }
    #[inline(always)]
    fn start_with<W>(
        &self,
        _: &Presenting<'_>,
        _: impl Fn(Self::Future) -> W + Copy,
    ) -> Presented<W, C> {
        Presented::Nothing
    }
    #[inline(always)]
    fn start_parts_with<W>(
        &self,
        _: &Parts,
        _: impl Fn(Self::Future) -> W + Copy,
    ) -> Presented<W, C> {
        Presented::Nothing
    }
    fn identity<'s, 'r>(&'s self, _: &Presenting<'r>) -> Option<Identity<'s, 'r>> {
        None
    }
    fn describe(&self, _: &mut Vec<Description>) {}
    fn basic(&self, _: BasicCredentials) -> Option<Started<Self::Future, C>> {
        None
    }
    fn success_header(&self, _: &AuthMethod) -> Option<(HeaderName, HeaderValue)> {
        None
    }
    fn refusal_header(&self, _: &Attempt) -> Option<(HeaderName, HeaderValue)> {
        None
    }
}

impl<C, M, R> MethodSet<C> for Cons<M, R>
where
    C: 'static,
    M: Method<C>,
    R: MethodSet<C>,
{
    type Future = Either<M::Future, R::Future>;
    const READS_PARTS: bool = M::READS_PARTS || R::READS_PARTS;
    const MAY_ADD_HEADERS: bool = M::MAY_ADD_HEADERS || R::MAY_ADD_HEADERS;

    #[inline(always)]
    fn first_scheme(&self) -> Option<Scheme> {
        match M::SCHEME {
            Some(scheme) => Some(scheme),
            None => self.1.first_scheme(),
        }
    }

    #[inline(always)]
    fn accepts(&self, scheme: Scheme) -> bool {
        M::SCHEME == Some(scheme) || self.1.accepts(scheme)
    }

    #[inline(always)]
    fn start_with<W>(
        &self,
        request: &Presenting<'_>,
        wrap: impl Fn(Self::Future) -> W + Copy,
    ) -> Presented<W, C> {
        // A method that reads parts waits for `start_parts_with`.
        if !M::READS_PARTS {
            let first = self.0.start(request);
            if !first.is_nothing() {
                return first.map_future(|future| wrap(Either::left(future)));
            }
            // `Nothing` owns nothing; forgetting it skips drop glue the optimizer keeps.
            std::mem::forget(first);
        }
        self.1
            .start_with(request, move |future| wrap(Either::right(future)))
    }

    #[inline]
    fn start_parts_with<W>(
        &self,
        parts: &Parts,
        wrap: impl Fn(Self::Future) -> W + Copy,
    ) -> Presented<W, C> {
        if M::READS_PARTS {
            match self.0.start_parts(parts) {
                Presented::Nothing => {}
                found => return found.map_future(|future| wrap(Either::left(future))),
            }
        }
        self.1
            .start_parts_with(parts, move |future| wrap(Either::right(future)))
    }

    fn identity<'s, 'r>(&'s self, request: &Presenting<'r>) -> Option<Identity<'s, 'r>> {
        if M::READS_PARTS {
            return self.1.identity(request);
        }
        self.0
            .identity(request)
            .or_else(|| self.1.identity(request))
    }

    fn describe(&self, into: &mut Vec<Description>) {
        into.push(self.0.describe());
        self.1.describe(into);
    }

    fn basic(&self, credentials: BasicCredentials) -> Option<Started<Self::Future, C>> {
        if M::SCHEME == Some(Scheme::Basic) {
            return self
                .0
                .basic(credentials)
                .map(|started| started.map(Either::left));
        }
        self.1
            .basic(credentials)
            .map(|started| started.map(Either::right))
    }

    fn success_header(&self, method: &AuthMethod) -> Option<(HeaderName, HeaderValue)> {
        if M::MAY_ADD_HEADERS && self.0.owns(method) {
            return self.0.success_header();
        }
        self.1.success_header(method)
    }

    fn refusal_header(&self, attempt: &Attempt) -> Option<(HeaderName, HeaderValue)> {
        if M::MAY_ADD_HEADERS && self.0.owns(&attempt.method) {
            return self.0.refusal_header(&attempt.failure);
        }
        self.1.refusal_header(attempt)
    }
}

pin_project! {
    /// One of two authenticators' futures.
    #[doc(hidden)]
    pub struct Either<L, R> {
        #[pin]
        kind: EitherKind<L, R>,
    }
}

pin_project! {
    #[project = EitherProj]
    enum EitherKind<L, R> {
        Left { #[pin] future: L },
        Right { #[pin] future: R },
    }
}

impl<L, R> Either<L, R> {
    #[inline]
    pub(crate) fn left(future: L) -> Self {
        Self {
            kind: EitherKind::Left { future },
        }
    }

    #[inline]
    pub(crate) fn right(future: R) -> Self {
        Self {
            kind: EitherKind::Right { future },
        }
    }
}

impl<T, L: Future<Output = T>, R: Future<Output = T>> Future for Either<L, R> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.project().kind.project() {
            EitherProj::Left { future } => future.poll(cx),
            EitherProj::Right { future } => future.poll(cx),
        }
    }
}

impl<L, R> std::fmt::Debug for Either<L, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Either")
    }
}

/// The configured methods, kept in three lists so that precedence does not depend on the order
/// of the builder's calls: the `Authorization` schemes (one header, so at most one applies),
/// then the named headers in the order added, then the request authenticator.
#[derive(Clone, Debug, Default)]
#[doc(hidden)]
pub struct Methods<A = Nil, H = Nil, R = Nil> {
    pub(crate) authorization: A,
    pub(crate) headers: H,
    pub(crate) request: R,
}

impl<A, H, R> private::Sealed for Methods<A, H, R> {}

/// Appends a method at the end of a list, in the type (what each `on_auth_*` does).
#[doc(hidden)]
pub trait Push<M> {
    /// The list with `M` at its end.
    type Output;
    /// Appends.
    fn push(self, method: M) -> Self::Output;
}

impl<M> Push<M> for Nil {
    type Output = Cons<M, Nil>;
    #[inline]
    fn push(self, method: M) -> Self::Output {
        Cons(method, Nil)
    }
}

impl<M, First, Rest: Push<M>> Push<M> for Cons<First, Rest> {
    type Output = Cons<First, Rest::Output>;
    #[inline]
    fn push(self, method: M) -> Self::Output {
        Cons(self.0, self.1.push(method))
    }
}

impl<C, A, H, R> MethodSet<C> for Methods<A, H, R>
where
    C: 'static,
    A: MethodSet<C>,
    H: MethodSet<C>,
    R: MethodSet<C>,
{
    type Future = Either<A::Future, Either<H::Future, R::Future>>;
    const READS_PARTS: bool = A::READS_PARTS || H::READS_PARTS || R::READS_PARTS;
    const MAY_ADD_HEADERS: bool = A::MAY_ADD_HEADERS || H::MAY_ADD_HEADERS || R::MAY_ADD_HEADERS;

    #[inline(always)]
    fn first_scheme(&self) -> Option<Scheme> {
        self.authorization.first_scheme()
    }

    #[inline(always)]
    fn accepts(&self, scheme: Scheme) -> bool {
        self.authorization.accepts(scheme)
    }

    #[inline(always)]
    fn start_with<W>(
        &self,
        request: &Presenting<'_>,
        wrap: impl Fn(Self::Future) -> W + Copy,
    ) -> Presented<W, C> {
        let found = self
            .authorization
            .start_with(request, move |future| wrap(Either::left(future)));
        if !found.is_nothing() {
            return found;
        }
        std::mem::forget(found);
        let found = self.headers.start_with(request, move |future| {
            wrap(Either::right(Either::left(future)))
        });
        if !found.is_nothing() {
            return found;
        }
        std::mem::forget(found);
        self.request.start_with(request, move |future| {
            wrap(Either::right(Either::right(future)))
        })
    }

    #[inline]
    fn start_parts_with<W>(
        &self,
        parts: &Parts,
        wrap: impl Fn(Self::Future) -> W + Copy,
    ) -> Presented<W, C> {
        self.request.start_parts_with(parts, move |future| {
            wrap(Either::right(Either::right(future)))
        })
    }

    fn identity<'s, 'r>(&'s self, request: &Presenting<'r>) -> Option<Identity<'s, 'r>> {
        self.authorization
            .identity(request)
            .or_else(|| self.headers.identity(request))
    }

    fn describe(&self, into: &mut Vec<Description>) {
        self.authorization.describe(into);
        self.headers.describe(into);
        self.request.describe(into);
    }

    fn basic(&self, credentials: BasicCredentials) -> Option<Started<Self::Future, C>> {
        self.authorization
            .basic(credentials)
            .map(|started| started.map(Either::left))
    }

    fn success_header(&self, method: &AuthMethod) -> Option<(HeaderName, HeaderValue)> {
        if !Self::MAY_ADD_HEADERS {
            return None;
        }
        self.authorization
            .success_header(method)
            .or_else(|| self.headers.success_header(method))
    }

    fn refusal_header(&self, attempt: &Attempt) -> Option<(HeaderName, HeaderValue)> {
        if !Self::MAY_ADD_HEADERS {
            return None;
        }
        self.authorization
            .refusal_header(attempt)
            .or_else(|| self.headers.refusal_header(attempt))
    }
}
