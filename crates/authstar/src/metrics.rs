//! Metrics. What the layer reports through the [`metrics`](https://docs.rs/metrics) facade (feature
//! `metrics`): install any recorder (Prometheus, StatsD, OpenTelemetry...) and these appear;
//! with none installed, each report is a lookup of the absent recorder and nothing else.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `authstar_authentications_total` | counter | `method` (`bearer`, `basic`, `dpop`, `header`, `request`), `outcome` (`authenticated`, `rejected`: the authenticator said no or a DPoP proof was refused, `malformed`, `unavailable`) |
//! | `authstar_throttled_total` | counter | — (requests answered 429 before any authenticator ran) |
//! | `authstar_rate_limit_total` | counter | `outcome` (`allowed`, `limited`): authenticated requests checked by a [`RateLimitLayer`](crate::ratelimit::RateLimitLayer) |
//! | `authstar_authenticator_duration_seconds` | histogram | `method`; authenticators that had to wait, from the first time they were not ready to their answer (one answering at once, such as a cache hit, is not timed and reads no clock) |
//!
//! Labels are fixed words: never a credential, a client id or an address. Every API-key
//! header counts as `header`, so a label's values stay a small, known set.
//!
//! **Install the recorder before the first request.** The layer registers its handles once, at
//! its first report (a handle costs a load and a branch per report; asking the facade each time
//! cost ~100 instructions with no recorder at all); handles taken before a recorder exists stay
//! silent.

/// Authentication outcomes, as the `outcome` label (the order of the handles' rows).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Reported {
    Authenticated = 0,
    Rejected = 1,
    Malformed = 2,
    Unavailable = 3,
}

#[cfg(feature = "metrics")]
mod enabled {
    use std::sync::OnceLock;

    use metrics::{Counter, Histogram};

    use super::Reported;
    use crate::AuthMethod;

    /// `$metric!($name, "method" => <word>, ...)` for each method, every label a literal.
    macro_rules! per_method {
        ($metric:ident, $name:literal $(, $k:literal => $v:literal)*) => {
            [
                metrics::$metric!($name, "method" => "bearer" $(, $k => $v)*),
                metrics::$metric!($name, "method" => "basic" $(, $k => $v)*),
                metrics::$metric!($name, "method" => "header" $(, $k => $v)*),
                metrics::$metric!($name, "method" => "request" $(, $k => $v)*),
                metrics::$metric!($name, "method" => "dpop" $(, $k => $v)*),
            ]
        };
    }

    /// Every handle the layer reports to, registered once, at the first report. Asking the
    /// facade on each report costs ~100 instructions even with no recorder installed (a
    /// thread-local, a dynamic call, a key), ~510 with a label computed at run time; a handle
    /// costs a load and a branch, and a recorder's lookup is paid once instead of per request.
    struct Handles {
        /// `[outcome][method]`.
        outcomes: [[Counter; 5]; 4],
        throttled: Counter,
        durations: [Histogram; 5],
        /// `[allowed, limited]`.
        rate_limit: [Counter; 2],
    }

    fn handles() -> &'static Handles {
        static HANDLES: OnceLock<Handles> = OnceLock::new();
        HANDLES.get_or_init(|| Handles {
            outcomes: [
                per_method!(counter, "authstar_authentications_total", "outcome" => "authenticated"),
                per_method!(counter, "authstar_authentications_total", "outcome" => "rejected"),
                per_method!(counter, "authstar_authentications_total", "outcome" => "malformed"),
                per_method!(counter, "authstar_authentications_total", "outcome" => "unavailable"),
            ],
            throttled: metrics::counter!("authstar_throttled_total"),
            durations: per_method!(histogram, "authstar_authenticator_duration_seconds"),
            rate_limit: [
                metrics::counter!("authstar_rate_limit_total", "outcome" => "allowed"),
                metrics::counter!("authstar_rate_limit_total", "outcome" => "limited"),
            ],
        })
    }

    fn method_index(method: &AuthMethod) -> usize {
        match method {
            AuthMethod::Bearer => 0,
            AuthMethod::Basic => 1,
            AuthMethod::Header(_) => 2,
            AuthMethod::Request => 3,
            AuthMethod::Dpop => 4,
        }
    }

    #[inline]
    pub(crate) fn outcome(method: &AuthMethod, outcome: Reported) {
        handles().outcomes[outcome as usize][method_index(method)].increment(1);
    }

    #[inline]
    pub(crate) fn throttled() {
        handles().throttled.increment(1);
    }

    #[inline]
    pub(crate) fn rate_limit(limited: bool) {
        handles().rate_limit[usize::from(limited)].increment(1);
    }

    /// When an authenticator was first found waiting.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Started(std::time::Instant);

    impl Started {
        #[inline]
        pub(crate) fn now() -> Self {
            Self(std::time::Instant::now())
        }

        #[inline]
        pub(crate) fn finished(self, method: &AuthMethod) {
            handles().durations[method_index(method)].record(self.0.elapsed().as_secs_f64());
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod enabled {
    use super::Reported;
    use crate::AuthMethod;

    #[inline(always)]
    pub(crate) fn outcome(_: &AuthMethod, _: Reported) {}

    #[inline(always)]
    pub(crate) fn throttled() {}

    #[inline]
    pub(crate) fn rate_limit(_: bool) {}

    /// Nothing: without the feature no time is taken.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Started;

    impl Started {
        #[inline(always)]
        pub(crate) fn now() -> Self {
            Self
        }

        #[inline(always)]
        pub(crate) fn finished(self, _: &AuthMethod) {}
    }
}

pub(crate) use enabled::{Started, outcome, rate_limit, throttled};
