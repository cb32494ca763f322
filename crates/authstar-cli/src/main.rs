//! `authstar`: the demo service, the client and API-key registry, and a token client.

use std::path::PathBuf;
use std::process::ExitCode;

use std::time::Duration;

use authstar_cli::demo::{self, DemoConfig, ForwardedHeader, ServerLimits};
use authstar_cli::registry::{Database, Registry, RegistryError};
use clap::{Args, Parser, Subcommand};

mod audit_command;
mod clients_command;
mod keys_command;
use audit_command::AuditArgs;
use clients_command::{ClientsCommand, clients};
use keys_command::{KeysCommand, keys};

/// The default registry database, shared by `demo` and every registry command.
const DEFAULT_DB: &str = "authstar.db";

#[derive(Parser)]
#[command(
    name = "authstar",
    version,
    about = "authstar: a machine-to-machine auth service and its registry"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the demo service (creates a demo client and API key on first start).
    Demo(DemoArgs),
    /// Answer nginx auth_request (/auth/nginx) and Caddy or Traefik forward auth (/auth) for
    /// services in any language: the demo's credentials and a route policy (TOML).
    Gateway(GatewayArgs),
    /// Manage OAuth2 clients.
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,
        #[command(flatten)]
        db: Db,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
        #[command(flatten)]
        db: Db,
    },
    /// Read the audit trail: every change to clients and keys, and every token revocation.
    Audit {
        #[command(flatten)]
        args: AuditArgs,
        #[command(flatten)]
        db: Db,
    },
    /// Get a token from a token endpoint (client_credentials).
    Token(TokenArgs),
    /// Bring the registry database's schema to this version (also done on every start).
    Migrate {
        #[command(flatten)]
        db: Db,
    },
}

#[derive(Args)]
struct Db {
    /// The registry database: a SQLite file (created on first use) or a postgres:// URL
    /// shared by several instances.
    #[arg(long, global = true, env = "AUTHSTAR_DB", hide_env_values = true, default_value = DEFAULT_DB)]
    db: String,
    /// The secrets file (pepper, cookie and signing keys): default beside a SQLite file;
    /// required with PostgreSQL, the same file for every instance.
    #[arg(long, global = true, env = "AUTHSTAR_SECRETS")]
    secrets: Option<PathBuf>,
}

impl Db {
    fn database(&self) -> Database {
        Database::parse(&self.db)
    }

    async fn open(&self) -> Result<Registry, RegistryError> {
        // A one-shot command exits long before another process's revocation could matter.
        let mut builder = Registry::builder(self.database()).revocation_poll(Duration::ZERO);
        if let Some(secrets) = &self.secrets {
            builder = builder.secrets(secrets);
        }
        builder.open().await
    }
}

#[derive(Args)]
struct GatewayArgs {
    /// The route policy (TOML): [[route]] tables with path, host, methods and what they need.
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// The header that carries the client id upstream.
    #[arg(long, default_value = "x-authstar-client-id")]
    client_id_header: axum::http::HeaderName,
    /// The header that carries the granted scopes upstream (space-separated).
    #[arg(long, default_value = "x-authstar-scopes")]
    scopes_header: axum::http::HeaderName,
    /// The header that carries how the client authenticated upstream.
    #[arg(long, default_value = "x-authstar-method")]
    method_header: axum::http::HeaderName,
    /// Also answer Envoy's ext_authz gRPC Check (envoy.service.auth.v3) on this port, with the
    /// gRPC health service (0 picks a free one).
    #[arg(long, value_name = "PORT")]
    ext_authz_port: Option<u16>,
    /// Where to listen, the registry, the trusted proxies (required: only they may ask), the
    /// issuer of the tokens to accept, limits: as for the demo.
    #[command(flatten)]
    demo: DemoArgs,
}

#[derive(Args)]
#[group(id = "certificates", multiple = true, args = ["tls_cert", "forwarded_client_cert"])]
struct DemoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    #[command(flatten)]
    db: Db,
    /// Proxies (CIDR blocks or addresses) whose forwarding header is believed.
    #[arg(long, value_delimiter = ',')]
    trusted_proxies: Vec<String>,
    /// The header those proxies write: x-forwarded-for (nginx, HAProxy, Traefik, cloud load
    /// balancers) or forwarded (RFC 7239). The other one is ignored.
    #[arg(long, default_value = "x-forwarded-for")]
    forwarded_header: ForwardedHeader,
    /// The issuer URL (tokens' `iss`, RFC 8414 `issuer`); default http://HOST:PORT.
    #[arg(long)]
    issuer: Option<String>,
    /// Seconds a successful client or API-key check is cached (revocations anywhere drop it
    /// within 250 ms; this bounds how long it outlives an unreachable database; 0 disables the
    /// cache; at most a day).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    cache_ttl: u64,
    /// Mark the session cookie `Secure` (default: when the issuer URL is https).
    #[arg(long, value_name = "true|false")]
    secure_cookies: Option<bool>,
    /// An origin (scheme://host:port) besides the service's own from which browsers may open a
    /// session-authenticated websocket (repeat for several).
    #[arg(long = "allowed-origin")]
    allowed_origins: Vec<String>,
    /// Turn off failed-authentication throttling (on by default: 429 after 100 failures a
    /// minute from one address or 10 for one client id).
    #[arg(long)]
    no_throttle: bool,
    /// Limit every authenticated client to N requests per window (600/60s: a burst of 600,
    /// refilled at 10 a second); 429 with Retry-After and RateLimit fields beyond. Shared
    /// through --redis (each instance limits alone while Redis is unreachable).
    #[arg(long, value_name = "N/WINDOW", value_parser = rate)]
    rate_limit: Option<authstar::throttle::Budget>,
    /// While --redis is unreachable, refuse no client for its rate limit (instead of each
    /// instance limiting on its own count); never applies to the failure throttle.
    #[arg(long, requires = "redis")]
    rate_limit_unlimited_if_redis_down: bool,
    /// Share the throttle's failure counters and the DPoP proofs already used with every
    /// instance through this Redis (`redis://[:password@]host:port`); without it each instance
    /// counts and remembers its own.
    #[arg(
        long,
        env = "AUTHSTAR_REDIS",
        hide_env_values = true,
        value_name = "URL"
    )]
    redis: Option<String>,
    /// Serve Prometheus metrics at `GET /metrics` on this address (e.g. 127.0.0.1:9100), a
    /// listener apart from the service's; none by default.
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<String>,
    /// A security profile: `fapi2` is FAPI 2.0's for client credentials (clients authenticate
    /// with private_key_jwt or a TLS certificate only; every token is sender-constrained, DPoP
    /// or mTLS, and only such
    /// tokens are accepted; PS256, ES256 and EdDSA only).
    #[arg(long, value_enum, default_value = "default")]
    profile: ProfileArg,
    /// Serve over TLS with this certificate chain (PEM); clients are asked for a certificate
    /// (never required), and the tokens of those that present one are bound to it (RFC 8705).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The --trusted-proxies terminate TLS and forward the client's certificate in
    /// `Client-Cert` (RFC 9440, or nginx's `$ssl_client_escaped_cert`), overwriting any a client
    /// sent: tokens are bound to it. Off by default: a proxy that passes a client's own header
    /// through would let anyone name any certificate.
    #[arg(long, requires = "trusted_proxies")]
    forwarded_client_cert: bool,
    /// The authorities (PEM) that issue the certificates of tls_client_auth clients (RFC 8705
    /// §2.1): a client whose certificate chains to one and carries its registered subject
    /// authenticates with it. Self-signed clients need none. Certificates reach the demo over
    /// its own TLS (--tls-cert) or from its proxies (--forwarded-client-cert).
    #[arg(long, value_name = "FILE", requires = "certificates")]
    client_ca: Option<PathBuf>,
    /// Require server nonces in DPoP proofs (RFC 9449 §8, §9): a client first gets
    /// `use_dpop_nonce` with a `DPoP-Nonce` to put in its proofs; nonces last 5 to 10 minutes
    /// and every instance sharing the secrets file accepts them.
    #[arg(long)]
    dpop_nonces: bool,
    /// Seconds a client has to send a request head; also how long an idle keep-alive
    /// connection is kept.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    header_timeout: u64,
    /// Seconds to answer a request, its body included (408 after).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    request_timeout: u64,
    /// Connections served at once (more wait in the kernel's queue).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,
    /// Connections at once from one address (an IPv6 /64); more are closed at once. Trusted
    /// proxies are not counted (each carries many clients).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections_per_address: u64,
    /// Largest request body in bytes (413 beyond).
    #[arg(long, default_value_t = 65_536, value_parser = clap::value_parser!(u64).range(1..=1_073_741_824))]
    max_body: u64,
    /// Seconds a websocket may go without a message from its client before it is closed.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    ws_idle_timeout: u64,
    /// Seconds between checks that a websocket's client, and the key, token or session that
    /// opened it, are still valid (closed with 1008 when not).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    ws_recheck: u64,
}

/// `--profile`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ProfileArg {
    /// Secrets, API keys and bearer tokens welcome.
    Default,
    /// FAPI 2.0 (client credentials).
    Fapi2,
}

/// `--auth-method`.

#[derive(Args)]
struct TokenArgs {
    /// The token endpoint's URL, e.g. http://127.0.0.1:8000/oauth2/token.
    #[arg(long)]
    url: String,
    /// The client id.
    #[arg(long)]
    client_id: String,
    /// The client secret. Visible to other users in the process list: prefer
    /// --client-secret-stdin or AUTHSTAR_CLIENT_SECRET.
    #[arg(long, env = "AUTHSTAR_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// Read the client secret from the first line of standard input.
    #[arg(long, conflicts_with = "client_secret")]
    client_secret_stdin: bool,
    /// A scope to request (repeat for several).
    #[arg(long = "scope")]
    scopes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error("{0}{hint}", hint = registry_hint(.0))]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Demo(#[from] demo::DemoError),
    #[error("{0}")]
    Message(String),
    #[error("{0}")]
    Certificate(#[from] authstar_oauth2::mtls::CertificateError),
}

/// The command-line flags that fix a registry error: the library's messages name none.
fn registry_hint(error: &RegistryError) -> &'static str {
    match error {
        RegistryError::UnknownClient(_) => ": see `authstar clients list`",
        RegistryError::UnknownKey(_) => ": see `authstar keys list`",
        RegistryError::ClientExists(_) => " (--id)",
        RegistryError::SecretsPathRequired => " (--secrets FILE)",
        RegistryError::WeakSecret => " (omit --secret to have one generated)",
        _ => "",
    }
}

pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| CliError::Message(e.to_string()))?;
    println!("{text}");
    Ok(())
}

/// Prints something just created: JSON, or aligned `name: value` lines and a reminder that the
/// secret is shown once.
pub(crate) fn show_created(
    value: &impl serde::Serialize,
    json: bool,
    fields: &[(&str, &str)],
    secret: &str,
) -> Result<(), CliError> {
    if json {
        return print_json(value);
    }
    for (name, field) in fields {
        println!("{:<15}{field}", format!("{name}:"));
    }
    println!("(the {secret} is shown only now; only its hash is stored)");
    Ok(())
}

/// Prints a listing: JSON, or one tab-separated line per row.
pub(crate) fn show_rows<T: serde::Serialize>(
    rows: &[T],
    json: bool,
    line: impl Fn(&T) -> Vec<String>,
) -> Result<(), CliError> {
    if json {
        return print_json(&rows);
    }
    for row in rows {
        println!("{}", line(row).join("\t"));
    }
    Ok(())
}

pub(crate) fn state(revoked: bool) -> String {
    if revoked { "revoked" } else { "active" }.to_owned()
}

pub(crate) use authstar_cli::demo::{duration, rate};

/// A secret from a flag or the environment, or the first line of standard input.
pub(crate) fn secret_from(given: Option<String>, stdin: bool) -> Result<Option<String>, CliError> {
    if !stdin {
        return Ok(given);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| CliError::Message(format!("cannot read the secret from stdin: {e}")))?;
    let secret = line.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err(CliError::Message("no secret on standard input".into()));
    }
    Ok(Some(secret.to_owned()))
}

async fn token(args: TokenArgs) -> Result<(), CliError> {
    let mut form = vec![("grant_type", "client_credentials".to_owned())];
    if !args.scopes.is_empty() {
        form.push(("scope", args.scopes.join(" ")));
    }
    let secret = secret_from(args.client_secret, args.client_secret_stdin)?.ok_or_else(|| {
        CliError::Message(
            "give the client secret: --client-secret-stdin, AUTHSTAR_CLIENT_SECRET or --client-secret"
                .into(),
        )
    })?;
    let response = reqwest::Client::new()
        .post(&args.url)
        .basic_auth(&args.client_id, Some(&secret))
        .form(&form)
        .send()
        .await
        .map_err(|e| CliError::Message(format!("cannot reach {}: {e}", args.url)))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.map_err(|_| {
        CliError::Message(format!(
            "{} answered {status} without a JSON body",
            args.url
        ))
    })?;
    if !status.is_success() {
        let error = body["error"].as_str().unwrap_or("error");
        let description = body["error_description"].as_str().unwrap_or_default();
        return Err(CliError::Message(format!(
            "{status}: {error}: {description}"
        )));
    }
    print_json(&body)
}

/// The demo's settings from its flags.
fn demo_config(args: DemoArgs) -> DemoConfig {
    DemoConfig {
        host: args.host,
        port: args.port,
        db: args.db.database(),
        secrets: args.db.secrets,
        trusted_proxies: args.trusted_proxies,
        forwarded_header: args.forwarded_header,
        issuer: args.issuer,
        cache_ttl: Duration::from_secs(args.cache_ttl),
        secure_cookies: args.secure_cookies,
        allowed_origins: args.allowed_origins,
        throttle: !args.no_throttle,
        rate_limit: args.rate_limit,
        rate_limit_unlimited_if_redis_down: args.rate_limit_unlimited_if_redis_down,
        redis: args.redis,
        metrics_addr: args.metrics_addr,
        dpop_nonces: args.dpop_nonces,
        tls: args.tls_cert.zip(args.tls_key),
        fapi2: args.profile == ProfileArg::Fapi2,
        forwarded_client_cert: args.forwarded_client_cert,
        client_ca: args.client_ca,
        gateway: None,
        ext_authz_port: None,
        limits: ServerLimits {
            header_timeout: Duration::from_secs(args.header_timeout),
            request_timeout: Duration::from_secs(args.request_timeout),
            max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
            max_connections_per_address: usize::try_from(args.max_connections_per_address)
                .unwrap_or(usize::MAX),
            max_body: usize::try_from(args.max_body).unwrap_or(usize::MAX),
            ws_idle_timeout: Duration::from_secs(args.ws_idle_timeout),
            ws_recheck: Duration::from_secs(args.ws_recheck),
        },
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Demo(args) => demo::run(demo_config(args)).await?,
        Command::Gateway(args) => {
            let text = std::fs::read_to_string(&args.policy)
                .map_err(|e| CliError::Message(format!("{}: {e}", args.policy.display())))?;
            let policy = authstar_gateway::Policy::from_toml(&text)
                .map_err(|e| CliError::Message(format!("{}: {e}", args.policy.display())))?;
            let identity = authstar_gateway::IdentityHeaders {
                client_id: args.client_id_header,
                scopes: args.scopes_header,
                method: args.method_header,
            };
            if args.demo.forwarded_client_cert
                || args.demo.forwarded_header != ForwardedHeader::XForwardedFor
            {
                return Err(CliError::Message(
                    "the gateway reads the client's address from X-Forwarded-For, as the files in \
                     deploy/ set it, and no forwarded certificate: the proxies in front of it \
                     pass a client's own Forwarded and Client-Cert headers through"
                        .to_owned(),
                ));
            }
            let mut config = demo_config(args.demo);
            config.gateway = Some((policy, identity));
            config.ext_authz_port = args.ext_authz_port;
            demo::run(config).await?;
        }
        Command::Clients { command, db } => {
            clients(command, &db.open().await?.acting_as("cli")).await?
        }
        Command::Keys { command, db } => keys(command, &db.open().await?.acting_as("cli")).await?,
        Command::Audit { args, db } => audit_command::audit(args, &db.open().await?).await?,
        Command::Migrate { db } => {
            let database = db.database();
            let store = database
                .connect(authstar_cli::registry::store::DEFAULT_CALL_TIMEOUT)
                .map_err(RegistryError::from)?;
            let version = store.migrate().await.map_err(RegistryError::from)?;
            println!("{database}: schema version {version}");
        }
        Command::Token(args) => token(args).await?,
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
