//! The client's network address behind trusted proxies, and internal networks.
//!
//! The immediate peer (the TCP connection's address) is the only address a server can trust.
//! `Forwarded` (RFC 7239) and `X-Forwarded-For` are written by whoever sent the request, so they
//! are read **only** when the peer is a configured trusted proxy, and then **right to left**: each
//! proxy appends the address it received the request from, so the rightmost entries were written
//! by our own proxies and the first untrusted address from the right is the client. Anything left
//! of it is the client's own claim and is ignored.
//!
//! Only **one** of the two headers is read: the one your proxies write (
//! default `X-Forwarded-For`, or `Forwarded` with [`TrustedProxies::forwarded`]). nginx, HAProxy, Traefik and the cloud load balancers append to
//! `X-Forwarded-For` and pass a client's `Forwarded` header through untouched, so believing
//! whichever header is present would let a client write its own address.
//!
//! ```
//! use std::net::IpAddr;
//! use authstar::network::{Networks, TrustedProxies};
//! use http::HeaderMap;
//!
//! let proxies = TrustedProxies::new(Networks::parse(["10.0.0.0/8"]).unwrap());
//! let mut headers = HeaderMap::new();
//! headers.insert("x-forwarded-for", "203.0.113.9, 192.0.2.7, 10.0.0.2".parse().unwrap());
//!
//! let peer: IpAddr = "10.0.0.1".parse().unwrap();
//! let client = proxies.client_address(peer, &headers);
//! assert_eq!(client, Some("192.0.2.7".parse().unwrap())); // 203.0.113.9 is the client's claim
//!
//! // A peer that is not a trusted proxy is the client, whatever the headers say.
//! let direct: IpAddr = "198.51.100.4".parse().unwrap();
//! assert_eq!(proxies.client_address(direct, &headers), Some(direct));
//! ```

use std::net::IpAddr;
use std::str::FromStr;

use http::HeaderMap;
use ipnet::IpNet;

mod addresses;
mod forwarded;

pub(crate) use addresses::Addresses;
use forwarded::{forwarded_for, is_forwarded, is_internal, unknown_proxy_warning, x_forwarded_for};

/// A set of IP networks (CIDR blocks).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Networks(Vec<IpNet>);

impl Networks {
    /// Parses CIDR blocks (`10.0.0.0/8`) or single addresses (`192.0.2.1`, `::1`).
    ///
    /// ```
    /// let networks = authstar::network::Networks::parse(["10.0.0.0/8", "::1"]).unwrap();
    /// assert!(networks.contains("10.1.2.3".parse().unwrap()));
    /// assert!(authstar::network::Networks::parse(["10.0.0.0/33"]).is_err());
    /// ```
    pub fn parse<I, S>(blocks: I) -> Result<Self, crate::ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        blocks
            .into_iter()
            .map(|block| {
                let block = block.as_ref().trim();
                IpNet::from_str(block)
                    .or_else(|_| IpAddr::from_str(block).map(IpNet::from))
                    .map_err(|_| crate::ConfigError::InvalidNetwork(block.to_owned()))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// The internal networks: loopback (`127.0.0.0/8`, `::1`), private IPv4 (RFC 1918), unique
    /// local IPv6 (RFC 4193, `fc00::/7`) and link-local (`169.254.0.0/16`, `fe80::/10`).
    ///
    /// ```
    /// let internal = authstar::network::Networks::internal();
    /// for address in ["127.0.0.1", "10.9.8.7", "172.16.0.1", "192.168.1.1", "169.254.1.1",
    ///                 "::1", "fd12::1", "fe80::1", "::ffff:192.168.0.1"] {
    ///     assert!(internal.contains(address.parse().unwrap()), "{address}");
    /// }
    /// assert!(!internal.contains("8.8.8.8".parse().unwrap()));
    /// assert!(!internal.contains("172.32.0.1".parse().unwrap()));
    /// ```
    pub fn internal() -> Self {
        const INTERNAL: [&str; 8] = [
            "127.0.0.0/8",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "169.254.0.0/16",
            "::1/128",
            "fc00::/7",
            "fe80::/10",
        ];
        Self(INTERNAL.iter().filter_map(|b| b.parse().ok()).collect())
    }

    /// Whether `address` is in one of the networks. IPv4-mapped IPv6 addresses
    /// (`::ffff:10.0.0.1`) are compared as IPv4.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The forwarding header your trusted proxies write; the other one is ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum ForwardedHeader {
    /// `X-Forwarded-For` (nginx `proxy_add_x_forwarded_for`, HAProxy `option forwardfor`,
    /// Traefik, AWS/GCP/Azure load balancers): the default.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded` (`for=` of each element), for proxies configured to write it.
    Forwarded,
}

/// Proxies whose forwarding header is believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Networks,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// Trusts proxies in `networks`, reading the `X-Forwarded-For` they append.
    pub fn new(networks: Networks) -> Self {
        Self {
            networks,
            header: ForwardedHeader::default(),
        }
    }

    /// Reads RFC 7239 `Forwarded` (`for=` of each element) instead of `X-Forwarded-For`, for
    /// proxies configured to write it; `X-Forwarded-For` is then ignored. (nginx, HAProxy,
    /// Traefik and the cloud load balancers write `X-Forwarded-For`, the default.)
    ///
    /// ```
    /// use authstar::network::{Networks, TrustedProxies};
    /// use http::HeaderMap;
    ///
    /// let proxies = TrustedProxies::new(Networks::parse(["10.0.0.0/8"]).unwrap()).forwarded();
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-forwarded-for", "10.9.9.9".parse().unwrap()); // not ours: ignored
    /// headers.insert("forwarded", "for=192.0.2.7".parse().unwrap());
    /// let peer = "10.0.0.1".parse().unwrap();
    /// assert_eq!(proxies.client_address(peer, &headers), Some("192.0.2.7".parse().unwrap()));
    /// ```
    pub fn forwarded(mut self) -> Self {
        self.header = ForwardedHeader::Forwarded;
        self
    }

    /// Trusts no proxy: the peer is always the client.
    pub fn none() -> Self {
        Self::default()
    }

    /// The origin (`scheme://host[:port]`) the client addressed, as a trusted proxy reports it:
    /// the last `X-Forwarded-Proto` and `X-Forwarded-Host` values (what the nearest proxy
    /// wrote), or the last `Forwarded` element's `proto` and `host`, whichever header is
    /// configured. `None` when the peer is not a trusted proxy, or the proxy sent no valid
    /// scheme (`http`, `https`) and host: then the request's own URI and `Host` are what count.
    /// For the URL a DPoP proof must name ([`DpopAuth::origin_from`](crate::DpopAuth::origin_from)).
    ///
    /// ```
    /// use authstar::network::{Networks, TrustedProxies};
    /// use http::HeaderMap;
    ///
    /// let proxies = TrustedProxies::new(Networks::parse(["10.0.0.0/8"]).unwrap());
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-forwarded-proto", "https".parse().unwrap());
    /// headers.insert("x-forwarded-host", "api.example.com".parse().unwrap());
    /// let origin = proxies.forwarded_origin("10.0.0.1".parse().unwrap(), &headers);
    /// assert_eq!(origin.as_deref(), Some("https://api.example.com"));
    /// // Anyone else writing the same headers is not believed.
    /// assert_eq!(proxies.forwarded_origin("203.0.113.9".parse().unwrap(), &headers), None);
    /// ```
    pub fn forwarded_origin(&self, peer: IpAddr, headers: &HeaderMap) -> Option<String> {
        if !self.networks.contains(peer.to_canonical()) {
            return None;
        }
        let last = |name: &str| {
            let value = headers
                .get_all(name)
                .into_iter()
                .next_back()?
                .to_str()
                .ok()?;
            Some(value.rsplit(',').next()?.trim().to_owned())
        };
        let (proto, host) = match self.header {
            ForwardedHeader::XForwardedFor => {
                (last("x-forwarded-proto")?, last("x-forwarded-host")?)
            }
            ForwardedHeader::Forwarded => {
                let element = last("forwarded")?;
                let param = |wanted: &str| {
                    element.split(';').find_map(|pair| {
                        let (name, value) = pair.split_once('=')?;
                        name.trim().eq_ignore_ascii_case(wanted).then(|| {
                            let value = value.trim();
                            let unquoted =
                                value.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
                            unquoted.unwrap_or(value).to_owned()
                        })
                    })
                };
                (param("proto")?, param("host")?)
            }
        };
        let proto = proto.to_ascii_lowercase();
        let authority: http::uri::Authority = host.parse().ok()?;
        ((proto == "https" || proto == "http") && !authority.as_str().contains('@'))
            .then(|| format!("{proto}://{authority}"))
    }

    /// The client's address: the peer itself unless it is a trusted proxy, else the first
    /// untrusted address reading the forwarding header right to left.
    /// `None` when a trusted proxy forwarded an address that cannot be read (`unknown`, an
    /// obfuscated identifier, garbage) or forwarded none: the client cannot be identified.
    ///
    /// With **no** trusted proxy configured, a request from a loopback or private peer that
    /// carries a forwarding header (`X-Forwarded-For`, `Forwarded`, `X-Real-IP`) came through a
    /// proxy nobody told us about (nginx on the same host, the most common deployment): its
    /// peer is the proxy, not the client, so the client is unidentified (`None`: not internal;
    /// the failure throttle counts its failures against the peer, the proxy) and one warning
    /// names the setting to add.
    ///
    /// ```
    /// use authstar::network::TrustedProxies;
    /// use http::HeaderMap;
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-forwarded-for", "8.8.8.8".parse().unwrap());
    /// let loopback = "127.0.0.1".parse().unwrap();
    /// assert_eq!(TrustedProxies::none().client_address(loopback, &headers), None);
    /// assert_eq!(TrustedProxies::none().client_address(loopback, &HeaderMap::new()), Some(loopback));
    /// ```
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer.to_canonical();
        if !self.networks.contains(peer) {
            if self.networks.is_empty() && is_internal(peer) && is_forwarded(headers) {
                unknown_proxy_warning(peer);
                return None;
            }
            return Some(peer);
        }
        let hops = match self.header {
            ForwardedHeader::Forwarded => forwarded_for(headers),
            ForwardedHeader::XForwardedFor => x_forwarded_for(headers),
        };
        // Right to left: skip our own proxies; the first other entry is the client.
        for hop in hops.into_iter().rev() {
            let address = hop?;
            if !self.networks.contains(address) {
                return Some(address.to_canonical());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::FORWARDED;
    use proptest::prelude::*;

    fn proxies() -> TrustedProxies {
        TrustedProxies::new(Networks::parse(["10.0.0.0/8", "fd00::/8"]).unwrap())
    }

    fn rfc7239_proxies() -> TrustedProxies {
        proxies().forwarded()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_origins_come_only_from_trusted_proxies_and_only_when_valid() {
        let x = headers(&[
            ("x-forwarded-proto", "http, HTTPS"),
            ("x-forwarded-host", "evil.example, api.example.com:8443"),
        ]);
        assert_eq!(
            proxies().forwarded_origin(ip("10.0.0.1"), &x).as_deref(),
            Some("https://api.example.com:8443")
        );
        assert_eq!(proxies().forwarded_origin(ip("192.0.2.1"), &x), None);
        // The RFC 7239 header, when that is the one configured; the other is ignored.
        let f = headers(&[(
            "forwarded",
            r#"for=192.0.2.1;proto=https;host="api.example.com""#,
        )]);
        assert_eq!(
            rfc7239_proxies()
                .forwarded_origin(ip("10.0.0.1"), &f)
                .as_deref(),
            Some("https://api.example.com")
        );
        assert_eq!(proxies().forwarded_origin(ip("10.0.0.1"), &f), None);
        for (proto, host) in [
            ("ftp", "api.example.com"),
            ("https", "user@api.example.com"),
            ("https", "bad host"),
            ("https", ""),
        ] {
            let h = headers(&[("x-forwarded-proto", proto), ("x-forwarded-host", host)]);
            assert_eq!(
                proxies().forwarded_origin(ip("10.0.0.1"), &h),
                None,
                "{proto} {host}"
            );
        }
    }

    #[test]
    fn rfc7239_forwarded_is_read_right_to_left() {
        let h = headers(&[(
            "forwarded",
            r#"for=198.51.100.1, for="[2001:db8:cafe::17]:4711";proto=https, for=10.1.1.1"#,
        )]);
        assert_eq!(
            rfc7239_proxies().client_address(ip("10.0.0.1"), &h),
            Some(ip("2001:db8:cafe::17"))
        );
    }

    #[test]
    fn rfc7239_6_unknown_and_obfuscated_nodes_stop_the_chain() {
        for value in [
            "for=unknown",
            "for=_hidden",
            "proto=https",
            "for=\"garbage\"",
        ] {
            let h = headers(&[("forwarded", value)]);
            assert_eq!(
                rfc7239_proxies().client_address(ip("10.0.0.1"), &h),
                None,
                "{value}"
            );
        }
    }

    #[test]
    fn only_the_configured_header_is_read() {
        // An nginx-style proxy appends X-Forwarded-For and passes the client's own `Forwarded`
        // through: the client must not choose its address by adding one.
        let h = headers(&[
            ("forwarded", "for=10.1.2.3"),
            ("x-forwarded-for", "203.0.113.5"),
        ]);
        assert_eq!(
            proxies().client_address(ip("10.0.0.1"), &h),
            Some(ip("203.0.113.5"))
        );
        // The other way round: a proxy that writes `Forwarded`; a client's X-Forwarded-For is
        // not believed.
        let h = headers(&[
            ("forwarded", "for=203.0.113.5"),
            ("x-forwarded-for", "10.1.2.3"),
        ]);
        assert_eq!(
            rfc7239_proxies().client_address(ip("10.0.0.1"), &h),
            Some(ip("203.0.113.5"))
        );
        let only_xff = headers(&[("x-forwarded-for", "192.0.2.9")]);
        assert_eq!(
            rfc7239_proxies().client_address(ip("10.0.0.1"), &only_xff),
            None
        );
    }

    #[test]
    fn repeated_header_lines_are_one_list() {
        let h = headers(&[
            ("x-forwarded-for", "192.0.2.1"),
            ("x-forwarded-for", "10.0.0.9"),
        ]);
        assert_eq!(
            proxies().client_address(ip("10.0.0.1"), &h),
            Some(ip("192.0.2.1"))
        );
    }

    #[test]
    fn a_trusted_peer_without_headers_identifies_nobody() {
        assert_eq!(
            proxies().client_address(ip("10.0.0.1"), &HeaderMap::new()),
            None
        );
    }

    #[test]
    fn spoofed_headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[
            ("x-forwarded-for", "127.0.0.1"),
            ("forwarded", "for=127.0.0.1"),
        ]);
        assert_eq!(
            proxies().client_address(ip("203.0.113.5"), &h),
            Some(ip("203.0.113.5"))
        );
        // No proxy configured: a public peer is the client whatever it sends; a private peer
        // with forwarding headers is a proxy nobody configured, so its client is unknown.
        assert_eq!(
            TrustedProxies::none().client_address(ip("203.0.113.5"), &h),
            Some(ip("203.0.113.5"))
        );
        for private in ["10.0.0.1", "127.0.0.1", "::1", "fd00::1", "192.168.1.1"] {
            assert_eq!(
                TrustedProxies::none().client_address(ip(private), &h),
                None,
                "{private}"
            );
            assert_eq!(
                TrustedProxies::none().client_address(ip(private), &HeaderMap::new()),
                Some(ip(private).to_canonical()),
                "{private} without forwarding headers"
            );
        }
        let real_ip = headers(&[("x-real-ip", "8.8.8.8")]);
        assert_eq!(
            TrustedProxies::none().client_address(ip("127.0.0.1"), &real_ip),
            None
        );
    }

    #[test]
    fn ipv4_mapped_peers_are_canonical() {
        assert_eq!(
            proxies().client_address(
                ip("::ffff:10.0.0.1"),
                &headers(&[("x-forwarded-for", "192.0.2.3")])
            ),
            Some(ip("192.0.2.3"))
        );
    }

    proptest! {
        #[test]
        fn any_forwarding_header_gives_a_defined_answer(value in "[ -~]{0,80}") {
            let mut h = HeaderMap::new();
            if let Ok(v) = value.parse() {
                h.insert(FORWARDED, v);
                let _ = rfc7239_proxies().client_address(ip("10.0.0.1"), &h);
                h.remove(FORWARDED);
            }
            if let Ok(v) = value.parse() {
                h.insert("x-forwarded-for", v);
                let _ = proxies().client_address(ip("10.0.0.1"), &h);
            }
        }
    }
}
