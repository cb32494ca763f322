//! [`Addresses`]: where a layer finds a request's client, configured once and read by the
//! throttle, the guards and the DPoP method.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use http::{Extensions, HeaderMap};

use super::TrustedProxies;

/// Reads a request's peer address (the TCP connection's) from its extensions, where the server
/// put it: axum's `ConnectInfo<SocketAddr>` (`authstar_axum::peer_address`), tonic's
/// `TcpConnectInfo`, your own hyper accept loop's.
pub(crate) type PeerFn = Arc<dyn Fn(&Extensions) -> Option<IpAddr> + Send + Sync>;

/// Where a layer finds a request's client: its peer, and the proxies trusted to name the client
/// behind them. Configured once on the layer
/// ([`peer_address`](crate::AuthstarLayerBuilder::peer_address),
/// [`trusted_proxies`](crate::AuthstarLayerBuilder::trusted_proxies)) and read by the failure
/// throttle, the guards (`internal`) and the DPoP method (the origin a proof names).
#[derive(Clone, Default)]
pub(crate) struct Addresses {
    pub(crate) peer: Option<PeerFn>,
    pub(crate) proxies: TrustedProxies,
}

impl fmt::Debug for Addresses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Addresses")
            .field("peer", &self.peer.is_some())
            .field("proxies", &self.proxies)
            .finish()
    }
}

impl Addresses {
    /// The peer's address, read by the layer's function.
    #[inline]
    pub(crate) fn peer(&self, extensions: &Extensions) -> Option<IpAddr> {
        self.peer.as_ref().and_then(|peer| peer(extensions))
    }

    /// The client's address; `None` when it cannot be identified (no peer, or a proxy that
    /// named none it can be believed about).
    pub(crate) fn client(&self, extensions: &Extensions, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = self.peer(extensions)?;
        self.proxies.client_address(peer, headers)
    }

    /// The address a failure is counted against: the client's, or the peer's when the client
    /// cannot be identified (a guesser must not escape the per-address budget by adding a
    /// forwarding header).
    pub(crate) fn accountable(
        &self,
        extensions: &Extensions,
        headers: &HeaderMap,
    ) -> Option<IpAddr> {
        let peer = self.peer(extensions)?;
        Some(self.proxies.client_address(peer, headers).unwrap_or(peer))
    }

    /// The origin the client addressed, as a trusted proxy in front reports it.
    pub(crate) fn forwarded_origin(
        &self,
        extensions: &Extensions,
        headers: &HeaderMap,
    ) -> Option<String> {
        let peer = self.peer(extensions)?;
        self.proxies.forwarded_origin(peer, headers)
    }
}
