//! Running the demo (or the gateway): the registry opened, the first client created, the
//! listener bound, the app (or the gateway's checks) served until Ctrl-C.

use super::*;
use authstar_redis::WhenUnreachable;

/// The lines printed on first start: the demo credentials (shown once) and curl commands.
pub fn first_start_lines(base: &str, client_id: &str, secret: &str, api_key: &str) -> Vec<String> {
    let token = format!(
        "$(curl -s -u {client_id}:{secret} -d grant_type=client_credentials {base}/oauth2/token | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')"
    );
    vec![
        format!("curl -s {base}/"),
        format!("curl -s -u {client_id}:{secret} {base}/me"),
        format!("curl -s -H 'X-API-Key: {api_key}' {base}/reports"),
        format!(
            "curl -s -u {client_id}:{secret} -d grant_type=client_credentials {base}/oauth2/token"
        ),
        format!("curl -s -H \"Authorization: Bearer {token}\" {base}/reports/export"),
        format!("curl -s {base}/.well-known/oauth-authorization-server"),
    ]
}

/// Runs the demo until Ctrl-C.
pub async fn run(config: DemoConfig) -> Result<(), DemoError> {
    let proxies =
        Networks::parse(&config.trusted_proxies).map_err(|e| DemoError::Config(e.to_string()))?;
    let mut registry = Registry::builder(config.db.clone()).cache_ttl(config.cache_ttl);
    if let Some(secrets) = &config.secrets {
        registry = registry.secrets(secrets);
    }
    let registry = registry.open().await?;
    let address = format!("{}:{}", config.host, config.port);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|source| DemoError::Listen {
            address: address.clone(),
            source,
        })?;
    let local = listener
        .local_addr()
        .map_err(|source| DemoError::Listen { address, source })?;
    let host = if local.ip().is_ipv6() {
        format!("[{}]", local.ip())
    } else {
        local.ip().to_string()
    };
    let tls = match &config.tls {
        Some((cert, key)) => Some(tls::acceptor(cert, key)?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base = format!("{scheme}://{host}:{}", local.port());
    let issuer = config.issuer.clone().unwrap_or_else(|| base.clone());

    if config.gateway.is_some() {
        println!(
            "authstar gateway: checks at {base}/auth/nginx (nginx) and {base}/auth (Caddy, Traefik)"
        );
    } else if registry.is_empty().await? {
        let scopes = ["reports:read".to_owned(), "reports:export".to_owned()];
        let client = registry
            .create_client(Some("demo-client"), None, &scopes)
            .await?;
        let key = registry
            .create_key(&client.client_id, &["reports:read".to_owned()])
            .await?;
        println!("authstar demo: created the demo client and an API key (shown only this once)");
        println!("  client_id:     {}", client.client_id);
        println!("  client_secret: {}", client.client_secret);
        println!("  api_key:       {}", key.key);
        println!("Try:");
        for line in first_start_lines(&base, &client.client_id, &client.client_secret, &key.key) {
            println!("  {line}");
        }
    } else {
        println!(
            "authstar demo: using the clients in {} (secrets are shown only when created: `authstar clients create`)",
            config.db
        );
    }
    if let Some(address) = &config.metrics_addr {
        let metrics = metrics::serve_metrics(address, config.limits).await?;
        println!("metrics on http://{metrics}/metrics");
    }
    // Envoy's port is bound (and said) before the main one is announced: a client that reads
    // "listening on" finds both.
    let envoy_listener = match (config.ext_authz_port, &config.gateway) {
        (Some(port), Some(_)) => {
            let address = format!("{}:{port}", config.host);
            let listener = tokio::net::TcpListener::bind(&address)
                .await
                .map_err(|source| DemoError::Listen {
                    address: address.clone(),
                    source,
                })?;
            let bound = listener
                .local_addr()
                .map_err(|source| DemoError::Listen { address, source })?;
            println!("ext_authz (gRPC) on {bound}");
            Some(listener)
        }
        _ => None,
    };
    if config.gateway.is_none() {
        println!("Swagger UI: {base}/docs");
    }
    println!("listening on {base}");

    let secure_cookies = config
        .secure_cookies
        .unwrap_or_else(|| issuer.to_ascii_lowercase().starts_with("https://"));
    let mut allowed_origins = config.allowed_origins.clone();
    allowed_origins.extend(origin_of(&base));
    let throttle_store =
        |prefix: &str, when_unreachable| -> Result<authstar_redis::RedisThrottle, DemoError> {
            let url = config.redis.as_deref().unwrap_or_default();
            authstar_redis::RedisThrottle::builder(url)
                .prefix(prefix)
                .when_unreachable(when_unreachable)
                // Every instance shares the secrets file: the same key names counters.
                .digest_key(format!(
                    "authstar redis digests {}",
                    registry.secrets().cookie_key
                ))
                .start()
                .map_err(|e| DemoError::Config(e.to_string()))
        };
    let (shared_throttle, shared_rate_limits, shared_replays) = match &config.redis {
        Some(url) => (
            // The failure throttle always counts here while Redis is away: never an open door.
            Some(throttle_store("authstar", WhenUnreachable::CountHere)?),
            // Rate limits count every authenticated request: a queue and keys of their own,
            // so they never crowd out the failures the throttle shares.
            Some(throttle_store(
                "authstar-rate",
                if config.rate_limit_unlimited_if_redis_down {
                    WhenUnreachable::Unlimited
                } else {
                    WhenUnreachable::CountHere
                },
            )?),
            Some(
                authstar_redis::RedisProofReplays::builder(url)
                    .start()
                    .map_err(|e| DemoError::Config(e.to_string()))?,
            ),
        ),
        None => (None, None, None),
    };
    let options = AppOptions {
        trusted_proxies: match config.forwarded_header {
            ForwardedHeader::XForwardedFor => TrustedProxies::new(proxies.clone()),
            ForwardedHeader::Forwarded => TrustedProxies::new(proxies.clone()).forwarded(),
        },
        secure_cookies,
        allowed_origins,
        throttle: config.throttle,
        dpop_nonces: config.dpop_nonces,
        shared_throttle,
        shared_replays,
        limits: config.limits,
        // A certificate reaches the app over its own TLS, or from a trusted proxy said to
        // forward it (RFC 9440 `Client-Cert`).
        certificate_bound_tokens: tls.is_some()
            || (config.forwarded_client_cert && !config.trusted_proxies.is_empty()),
        fapi2: config.fapi2,
        rate_limit: config.rate_limit,
        shared_rate_limits,
        client_authorities: match &config.client_ca {
            Some(path) => Some(client_authorities(path)?),
            None => None,
        },
    };
    let (app, ext_authz) = match config.gateway {
        Some((policy, identity)) => {
            let gateway = gateway::gateway(
                registry,
                &issuer,
                policy,
                identity,
                proxies.clone(),
                options,
            )?;
            (gateway.http, Some(gateway.ext_authz))
        }
        None => (app(registry, &issuer, options)?, None),
    };
    if let (Some(ext_authz), Some(listener)) = (ext_authz, envoy_listener) {
        tokio::spawn(gateway::serve_ext_authz(listener, ext_authz));
    }
    tracing::info!(%local, issuer = %issuer, "authstar demo: listening");
    let transport = server::Transport {
        tls,
        forwarded_client_cert: config.forwarded_client_cert,
    };
    server::serve(listener, app, config.limits, proxies, transport, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(())
}

/// The authorities of `--client-ca`.
fn client_authorities(
    path: &std::path::Path,
) -> Result<authstar_oauth2::mtls::CertificateAuthorities, DemoError> {
    let failed = |why: String| DemoError::Config(format!("--client-ca {}: {why}", path.display()));
    let pem = std::fs::read(path).map_err(|e| failed(e.to_string()))?;
    authstar_oauth2::mtls::CertificateAuthorities::from_pem(&pem).map_err(|e| failed(e.to_string()))
}
