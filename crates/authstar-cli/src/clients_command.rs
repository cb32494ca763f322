//! `authstar clients`: create (with a secret, keys or a certificate rule), list, revoke, and
//! replace a client's keys or certificate rule.

use authstar_cli::registry::{ClientRecord, MAX_PAGE, Registry};
use authstar_oauth2::ClientAuthMethod;
use authstar_oauth2::mtls::CertificateRule;
use clap::{Args, Subcommand};

use crate::{CliError, print_json, secret_from, show_created, show_rows, state};

#[derive(Subcommand)]
pub(crate) enum ClientsCommand {
    /// Create a client; its secret is shown once.
    Create {
        /// The client id (default: generated).
        #[arg(long)]
        id: Option<String>,
        /// Import this secret instead of generating one (stored with argon2id, at least 16
        /// characters). Visible to other users in the process list: prefer --secret-stdin or
        /// AUTHSTAR_IMPORT_SECRET.
        #[arg(long, env = "AUTHSTAR_IMPORT_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// Read the secret to import from the first line of standard input.
        #[arg(long, conflicts_with = "secret")]
        secret_stdin: bool,
        /// How the client authenticates: client_secret_basic (a secret, sent with Basic or
        /// client_secret_post), private_key_jwt (RFC 7523 assertions signed by a key of
        /// --jwks), tls_client_auth (a certificate from the demo's --client-ca with the
        /// subject of --tls-subject-dn or --tls-san-*) or self_signed_tls_client_auth (one of
        /// the certificates of --certificate). Only the first has a secret.
        #[arg(long, value_enum, default_value = "client_secret_basic")]
        auth_method: AuthMethodArg,
        /// The client's public keys, a JWKS document (private_key_jwt).
        #[arg(long, value_name = "FILE", conflicts_with_all = ["secret", "secret_stdin"])]
        jwks: Option<std::path::PathBuf>,
        #[command(flatten)]
        certificate: CertificateArgs,
        /// A scope (repeat for several).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List clients, by id, a page at a time.
    List {
        /// Start after this client id (the last of the previous page).
        #[arg(long)]
        after: Option<String>,
        /// At most this many (default: all, read a page at a time).
        #[arg(long)]
        limit: Option<u32>,
        /// Print JSON (one array per page read).
        #[arg(long)]
        json: bool,
    },
    /// Give a client its own rate limit (N requests per window: 600/60s), or take it away
    /// (--none: the service's default applies); every instance at its next poll.
    SetRateLimit {
        /// The client id.
        id: String,
        /// Its budget: N/WINDOW.
        #[arg(long, value_parser = crate::rate, required_unless_present = "none", conflicts_with = "none")]
        rate: Option<authstar::throttle::Budget>,
        /// No limit of its own.
        #[arg(long)]
        none: bool,
    },
    /// Replace a client's scopes (its keys never grant more than the client holds).
    SetScopes {
        /// The client id.
        id: String,
        /// A scope (repeat for several).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
    /// Revoke a client (it gets no token; its keys stop working).
    Revoke {
        /// The client id.
        id: String,
    },
    /// Replace the public keys of a private_key_jwt client (a rotation, or after a compromise).
    SetJwks {
        /// The client id.
        id: String,
        /// The new keys, a JWKS document.
        #[arg(long, value_name = "FILE")]
        jwks: std::path::PathBuf,
    },
    /// Replace what the certificate of a tls_client_auth or self_signed_tls_client_auth
    /// client must be (a renamed subject, a renewed self-signed certificate).
    SetCertificate {
        /// The client id.
        id: String,
        #[command(flatten)]
        certificate: CertificateArgs,
    },
}

/// What a certificate client's certificate must be (RFC 8705 §2.1.2 and §2.2): one option.
#[derive(Args, Default)]
#[group(multiple = false)]
pub(crate) struct CertificateArgs {
    /// tls_client_auth: the certificate's subject DN, as RFC 4514 writes it (CN=svc,O=Example).
    #[arg(long, value_name = "DN")]
    tls_subject_dn: Option<String>,
    /// tls_client_auth: a dNSName of the certificate's subject alternative names.
    #[arg(long, value_name = "NAME")]
    tls_san_dns: Option<String>,
    /// tls_client_auth: a uniformResourceIdentifier of its subject alternative names.
    #[arg(long, value_name = "URI")]
    tls_san_uri: Option<String>,
    /// tls_client_auth: an iPAddress of its subject alternative names.
    #[arg(long, value_name = "IP")]
    tls_san_ip: Option<std::net::IpAddr>,
    /// tls_client_auth: an rfc822Name of its subject alternative names.
    #[arg(long, value_name = "EMAIL")]
    tls_san_email: Option<String>,
    /// self_signed_tls_client_auth: the client's certificates (PEM, one or more).
    #[arg(long, value_name = "FILE")]
    certificate: Option<std::path::PathBuf>,
}

impl CertificateArgs {
    /// The rule the options give, if any.
    fn rule(self) -> Result<Option<CertificateRule>, CliError> {
        let rule = match self {
            Self {
                tls_subject_dn: Some(dn),
                ..
            } => CertificateRule::subject_dn(&dn)?,
            Self {
                tls_san_dns: Some(name),
                ..
            } => CertificateRule::SanDns(name),
            Self {
                tls_san_uri: Some(uri),
                ..
            } => CertificateRule::SanUri(uri),
            Self {
                tls_san_ip: Some(ip),
                ..
            } => CertificateRule::SanIp(ip),
            Self {
                tls_san_email: Some(email),
                ..
            } => CertificateRule::SanEmail(email),
            Self {
                certificate: Some(path),
                ..
            } => {
                let pem = std::fs::read(&path)
                    .map_err(|e| CliError::Message(format!("{}: {e}", path.display())))?;
                CertificateRule::self_signed_pem(&pem)?
            }
            _ => return Ok(None),
        };
        Ok(Some(rule))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum AuthMethodArg {
    /// A secret, with HTTP Basic or in the body.
    #[value(name = "client_secret_basic", alias = "client_secret_post")]
    ClientSecret,
    /// A JWT assertion signed by a registered key (RFC 7523 §2.2).
    #[value(name = "private_key_jwt")]
    PrivateKeyJwt,
    /// A TLS client certificate from a trusted authority, with a registered subject (RFC 8705
    /// §2.1).
    #[value(name = "tls_client_auth")]
    TlsClientAuth,
    /// A registered self-signed TLS client certificate (RFC 8705 §2.2).
    #[value(name = "self_signed_tls_client_auth")]
    SelfSignedTlsClientAuth,
}

pub(crate) async fn clients(command: ClientsCommand, registry: &Registry) -> Result<(), CliError> {
    match command {
        ClientsCommand::Create {
            id,
            secret,
            secret_stdin,
            auth_method,
            jwks,
            certificate,
            scopes,
            json,
        } => {
            let rule = certificate.rule()?;
            if auth_method != AuthMethodArg::ClientSecret && (secret.is_some() || secret_stdin) {
                return Err(CliError::Message(
                    "--secret and --secret-stdin are for --auth-method client_secret_basic: a \
                     private_key_jwt or certificate client has no secret"
                        .to_owned(),
                ));
            }
            if jwks.is_some() && auth_method != AuthMethodArg::PrivateKeyJwt {
                return Err(CliError::Message(
                    "--jwks is for --auth-method private_key_jwt".to_owned(),
                ));
            }
            match auth_method {
                AuthMethodArg::PrivateKeyJwt if rule.is_none() => {
                    return create_key_client(registry, id, jwks, &scopes, json).await;
                }
                AuthMethodArg::TlsClientAuth | AuthMethodArg::SelfSignedTlsClientAuth => {
                    return create_certificate_client(
                        registry,
                        id,
                        auth_method,
                        rule,
                        &scopes,
                        json,
                    )
                    .await;
                }
                _ if rule.is_some() => {
                    return Err(CliError::Message(
                        "--tls-* and --certificate are for --auth-method tls_client_auth or \
                         self_signed_tls_client_auth"
                            .to_owned(),
                    ));
                }
                _ => {}
            }
            let secret = secret_from(secret, secret_stdin)?;
            let created = registry
                .create_client(id.as_deref(), secret.as_deref(), &scopes)
                .await?;
            let scopes = created.scopes.join(" ");
            let fields = [
                ("client_id", created.client_id.as_str()),
                ("client_secret", created.client_secret.as_str()),
                ("scopes", scopes.as_str()),
            ];
            show_created(&created, json, &fields, "secret")
        }
        ClientsCommand::List { after, limit, json } => {
            // A page at a time: memory stays that of one page, whatever the number of clients.
            let (mut after, mut left) = (after, limit.unwrap_or(u32::MAX));
            while left > 0 {
                let size = left.min(MAX_PAGE);
                let page = registry.client_page(after.as_deref(), size).await?;
                show_rows(&page, json, |client| {
                    vec![
                        client.client_id.clone(),
                        state(client.revoked),
                        client.auth_method.clone(),
                        client.scopes.join(" "),
                    ]
                })?;
                match page.last() {
                    Some(last) if page.len() == size as usize => {
                        after = Some(last.client_id.clone());
                        left -= size;
                    }
                    _ => break,
                }
            }
            Ok(())
        }
        ClientsCommand::SetRateLimit { id, rate, .. } => {
            registry.set_client_rate_limit(&id, rate).await?;
            crate::keys_command::print_limit(&format!("client {id}"), rate);
            Ok(())
        }
        ClientsCommand::SetScopes { id, scopes } => {
            registry.set_client_scopes(&id, &scopes).await?;
            println!("client {id} now has: {}", scopes.join(" "));
            Ok(())
        }
        ClientsCommand::Revoke { id } => {
            registry.revoke_client(&id).await?;
            println!("revoked client {id}");
            Ok(())
        }
        ClientsCommand::SetJwks { id, jwks } => {
            let document = std::fs::read_to_string(&jwks)
                .map_err(|e| CliError::Message(format!("{}: {e}", jwks.display())))?;
            registry.set_client_jwks(&id, &document).await?;
            println!("replaced the keys of client {id}");
            Ok(())
        }
        ClientsCommand::SetCertificate { id, certificate } => {
            let Some(rule) = certificate.rule()? else {
                return Err(CliError::Message(
                    "give the certificate's subject (--tls-subject-dn, --tls-san-*) or \
                     --certificate FILE"
                        .to_owned(),
                ));
            };
            registry.set_client_certificate(&id, rule).await?;
            println!("replaced the certificate rule of client {id}");
            Ok(())
        }
    }
}

/// `clients create --auth-method private_key_jwt --jwks FILE`.
async fn create_key_client(
    registry: &Registry,
    id: Option<String>,
    jwks: Option<std::path::PathBuf>,
    scopes: &[String],
    json: bool,
) -> Result<(), CliError> {
    let (Some(id), Some(path)) = (id, jwks) else {
        return Err(CliError::Message(
            "a private_key_jwt client needs --id and --jwks FILE (its public keys)".to_owned(),
        ));
    };
    let document = std::fs::read_to_string(&path)
        .map_err(|e| CliError::Message(format!("{}: {e}", path.display())))?;
    let created = registry.create_key_client(&id, &document, scopes).await?;
    show_record(&created, json)
}

/// `clients create --auth-method tls_client_auth --tls-subject-dn DN` (or `--tls-san-*`), or
/// `--auth-method self_signed_tls_client_auth --certificate FILE`.
async fn create_certificate_client(
    registry: &Registry,
    id: Option<String>,
    method: AuthMethodArg,
    rule: Option<CertificateRule>,
    scopes: &[String],
    json: bool,
) -> Result<(), CliError> {
    let wanted = match method {
        AuthMethodArg::TlsClientAuth => ClientAuthMethod::TlsClientAuth,
        _ => ClientAuthMethod::SelfSignedTlsClientAuth,
    };
    let (Some(id), Some(rule)) = (id, rule.filter(|rule| rule.method() == wanted)) else {
        return Err(CliError::Message(format!(
            "a {} client needs --id and {}",
            wanted.as_str(),
            match wanted {
                ClientAuthMethod::TlsClientAuth =>
                    "its certificate's subject: --tls-subject-dn \
                    or one of --tls-san-dns, --tls-san-uri, --tls-san-ip, --tls-san-email",
                _ => "--certificate FILE (its self-signed certificates, PEM)",
            }
        )));
    };
    let created = registry
        .create_certificate_client(&id, rule, scopes)
        .await?;
    show_record(&created, json)
}

/// A client without a secret, as created.
fn show_record(created: &ClientRecord, json: bool) -> Result<(), CliError> {
    if json {
        return print_json(created);
    }
    println!("client_id:     {}", created.client_id);
    println!("auth_method:   {}", created.auth_method);
    println!("scopes:        {}", created.scopes.join(" "));
    Ok(())
}
