//! The forwarding-header parsers: `Forwarded` (RFC 7239) and `X-Forwarded-For`, read for a
//! trusted peer. Any value, several lines, never a panic; an untrusted peer is always itself.

use std::net::IpAddr;

use authstar::network::{ForwardedHeader, Networks, TrustedProxies};
use http::{HeaderMap, HeaderName, HeaderValue};

fn main() {
    let networks = Networks::parse(["10.0.0.0/8", "fd00::/8"]).expect("valid networks");
    let xff = TrustedProxies::new(networks.clone());
    let rfc7239 = TrustedProxies::new(networks).header(ForwardedHeader::Forwarded);
    let trusted: IpAddr = [10, 0, 0, 1].into();
    let outsider: IpAddr = [203, 0, 113, 9].into();
    afl::fuzz!(|data: &[u8]| {
        let mut headers = HeaderMap::new();
        for line in data.split(|b| *b == b'\n') {
            let Ok(value) = HeaderValue::from_bytes(line) else {
                continue;
            };
            headers.append(HeaderName::from_static("forwarded"), value.clone());
            headers.append(HeaderName::from_static("x-forwarded-for"), value);
        }
        let _ = xff.client_address(trusted, &headers);
        let _ = rfc7239.client_address(trusted, &headers);
        assert_eq!(xff.client_address(outsider, &headers), Some(outsider));
        assert_eq!(rfc7239.client_address(outsider, &headers), Some(outsider));
    });
}
