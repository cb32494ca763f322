//! A request without credentials costs no heap allocation in the layer.
//!
//! The only `unsafe` in the project: a `GlobalAlloc` must be an `unsafe impl`. It delegates to
//! the system allocator and counts. The library crates themselves `forbid(unsafe_code)`.
//!
//! A counting global allocator measures the allocations made while one prebuilt request goes
//! through the layered service, and compares them with the bare inner service.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use authstar::{
    AuthstarClient, AuthstarLayer, BasicCredentials, BearerToken, HeaderAuth, HeaderCredential,
};
use http::{Request, Response};
use tower::{Layer, Service, service_fn};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCATIONS.with(Cell::get);
    let value = f();
    (ALLOCATIONS.with(Cell::get) - before, value)
}

fn inner(_: Request<()>) -> Ready<Result<Response<()>, Infallible>> {
    ready(Ok(Response::new(())))
}

fn drive<S: Service<Request<()>, Response = Response<()>>>(
    service: &mut S,
    request: Request<()>,
) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    if service.poll_ready(&mut cx).is_pending() {
        return false;
    }
    let mut future = pin!(service.call(request));
    matches!(future.as_mut().poll(&mut cx), Poll::Ready(Ok(_)))
}

fn request() -> Request<()> {
    Request::builder()
        .uri("/reports")
        .header("host", "api.example")
        .header("user-agent", "curl/8.5.0")
        .header("accept", "application/json")
        .header("accept-encoding", "gzip, br")
        .body(())
        .unwrap()
}

#[test]
fn anonymous_request_allocates_nothing_in_the_layer() {
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(|_: BearerToken| async { None::<AuthstarClient> })
        .on_auth_basic(|_: BasicCredentials| async { None::<AuthstarClient> })
        .on_auth_header(HeaderAuth::x_api_key(|_: HeaderCredential| async {
            None::<AuthstarClient>
        }))
        .build()
        .unwrap();
    let mut bare = service_fn(inner);
    let mut layered = layer.layer(service_fn(inner));

    let (request_a, request_b) = (request(), request());
    let (bare_allocations, ok_bare) = allocations_during(|| drive(&mut bare, request_a));
    let (layered_allocations, ok_layered) = allocations_during(|| drive(&mut layered, request_b));
    assert!(ok_bare && ok_layered);
    assert_eq!(layered_allocations, bare_allocations);

    // The counter works: an authenticated request does allocate (the stored client).
    let layer = AuthstarLayer::builder()
        .on_auth_bearer(|_: BearerToken| async { Some(AuthstarClient::new("c", ["s"])) })
        .build()
        .unwrap();
    let mut layered = layer.layer(service_fn(inner));
    let mut with_token = request();
    with_token
        .headers_mut()
        .insert("authorization", "Bearer t".parse().unwrap());
    let (allocations, ok) = allocations_during(|| drive(&mut layered, with_token));
    assert!(ok);
    assert!(allocations > 0);
}

#[test]
fn cloning_the_default_client_allocates_nothing() {
    let client = AuthstarClient::new("reporting", ["reports:read", "reports:export"]);
    let (allocations, copy) = allocations_during(|| client.clone());
    assert_eq!(allocations, 0, "a clone is a reference-count increment");
    assert_eq!(copy, client);
    assert_eq!(copy.scopes(), ["reports:read", "reports:export"]);
}
