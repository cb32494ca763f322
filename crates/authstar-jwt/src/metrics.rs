//! What this crate reports through the `metrics` facade (feature `metrics`): one call per
//! event, no `cfg` at the call sites. The handles are registered once, at the first report (as
//! in `authstar::metrics`): asking the facade per report costs ~100 instructions even with no
//! recorder, a sixth of a cached JWT verification; a handle costs a load and a branch.

/// An event, and the counter it moves (introspection and JWKS events need `remote`).
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "remote"), allow(dead_code))]
pub(crate) enum Event {
    /// `authstar_jwt_cache_total{result="hit"}`.
    JwtCacheHit = 0,
    /// `authstar_jwt_cache_total{result="miss"}`.
    JwtCacheMiss,
    /// `authstar_introspection_cache_total{result="hit"}`.
    IntrospectionCacheHit,
    /// `authstar_introspection_cache_total{result="miss"}`.
    IntrospectionCacheMiss,
    /// `authstar_introspection_calls_total{result="active"}`.
    IntrospectionActive,
    /// `authstar_introspection_calls_total{result="inactive"}`.
    IntrospectionInactive,
    /// `authstar_introspection_calls_total{result="error"}`.
    IntrospectionError,
    /// `authstar_jwks_refreshes_total{result="ok"}`.
    JwksRefreshed,
    /// `authstar_jwks_refreshes_total{result="error"}`.
    JwksRefreshFailed,
}

/// Counts `event`.
#[cfg(feature = "metrics")]
#[inline]
pub(crate) fn count(event: Event) {
    use std::sync::OnceLock;
    static COUNTERS: OnceLock<[metrics::Counter; 9]> = OnceLock::new();
    let counters = COUNTERS.get_or_init(|| {
        [
            metrics::counter!("authstar_jwt_cache_total", "result" => "hit"),
            metrics::counter!("authstar_jwt_cache_total", "result" => "miss"),
            metrics::counter!("authstar_introspection_cache_total", "result" => "hit"),
            metrics::counter!("authstar_introspection_cache_total", "result" => "miss"),
            metrics::counter!("authstar_introspection_calls_total", "result" => "active"),
            metrics::counter!("authstar_introspection_calls_total", "result" => "inactive"),
            metrics::counter!("authstar_introspection_calls_total", "result" => "error"),
            metrics::counter!("authstar_jwks_refreshes_total", "result" => "ok"),
            metrics::counter!("authstar_jwks_refreshes_total", "result" => "error"),
        ]
    });
    counters[event as usize].increment(1);
}

/// Counts nothing: the feature is off.
#[cfg(not(feature = "metrics"))]
#[inline(always)]
pub(crate) fn count(_: Event) {}
