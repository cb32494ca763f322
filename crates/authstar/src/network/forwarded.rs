//! The forwarding headers: `X-Forwarded-For` and RFC 7239 `Forwarded`, read right to left, and
//! the warning for a proxy nobody configured.

use std::net::IpAddr;

use http::HeaderMap;
use http::header::FORWARDED;

/// Whether `address` is in [`Networks::internal`] (without building the set).
pub(super) fn is_internal(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// Whether a proxy forwarded the request: a header only proxies write.
pub(super) fn is_forwarded(headers: &HeaderMap) -> bool {
    headers.contains_key("x-forwarded-for")
        || headers.contains_key(FORWARDED)
        || headers.contains_key("x-real-ip")
}

/// Warns, once per process, of forwarded requests from a proxy that is not configured.
pub(super) fn unknown_proxy_warning(peer: IpAddr) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            %peer,
            "authstar: a request from {peer} carries a forwarding header, but no trusted proxy is \
             configured: its client is treated as unknown (not internal; failures count against \
             {peer}). Configure your proxy's address with TrustedProxies::new (the demo's \
             --trusted-proxies)"
        );
    }
}

/// The `for=` addresses of every `Forwarded` element, in order; `None` for one that is not an IP.
pub(super) fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut hops = Vec::new();
    for value in headers.get_all(FORWARDED) {
        let Ok(value) = value.to_str() else {
            hops.push(None);
            continue;
        };
        for element in value.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| value.trim())
            });
            // An element without `for=` tells nothing about the client: it breaks the chain.
            hops.push(node.and_then(parse_node));
        }
    }
    hops
}

/// An RFC 7239 §6 node: `192.0.2.60`, `"192.0.2.60:8080"`, `"[2001:db8::1]:4711"`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node
        .strip_prefix('"')
        .and_then(|n| n.strip_suffix('"'))
        .unwrap_or(node);
    if let Some(rest) = node.strip_prefix('[') {
        let (address, _port) = rest.split_once(']')?;
        return address.parse().ok();
    }
    let address = match node.split_once(':') {
        Some((address, _port)) => address,
        None => node,
    };
    address.parse().ok()
}

pub(super) fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        match value.to_str() {
            Ok(value) => hops.extend(value.split(',').map(|hop| hop.trim().parse().ok())),
            Err(_) => hops.push(None),
        }
    }
    hops
}
