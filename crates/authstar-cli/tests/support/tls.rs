//! TLS for the end-to-end tests: certificates made by `openssl` (self-signed, an authority and
//! what it issues), curl with a client certificate, and what a token says. Not every test
//! binary that includes the support module uses all of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::Value;

/// A self-signed certificate and key for `subject` in `dir`: `(cert, key)` paths.
pub(crate) fn certificate(
    dir: &Path,
    name: &str,
    subject: &str,
    san: Option<&str>,
) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    let mut openssl = Command::new("openssl");
    openssl
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", subject])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert);
    if let Some(san) = san {
        openssl.args(["-addext", san]);
    }
    let made = openssl.output().expect("openssl runs");
    assert!(made.status.success(), "{made:?}");
    (cert, key)
}

/// `curl -sk` with `args`: the status and the body.
pub(crate) fn curl(args: &[&str]) -> (u16, String) {
    let output = Command::new("curl")
        .args(["-sk", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

pub(crate) fn with_certificate<'a>(
    cert: &'a Path,
    key: &'a Path,
    rest: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ];
    args.extend_from_slice(rest);
    args
}

/// The claims of a JWT, unverified (the test reads what the server issued).
pub(crate) fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The RFC 8705 thumbprint of a PEM certificate, by openssl.
pub(crate) fn thumbprint(cert: &Path) -> String {
    authstar_jwt::client_certificate(der(cert))
        .thumbprint()
        .to_owned()
}

/// A certificate and key for `subject` issued by the authority `ca` (`(cert, key)`), with
/// `extensions` (`-addext` values): `(cert, key)` paths in `dir`.
pub(crate) fn issued(
    dir: &Path,
    name: &str,
    subject: &str,
    ca: &(PathBuf, PathBuf),
    extensions: &[&str],
) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    let mut openssl = Command::new("openssl");
    openssl
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args([
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            subject,
        ])
        .arg("-CA")
        .arg(&ca.0)
        .arg("-CAkey")
        .arg(&ca.1)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-addext", "basicConstraints=CA:FALSE"]);
    for extension in extensions {
        openssl.args(["-addext", extension]);
    }
    let made = openssl.output().expect("openssl runs");
    assert!(made.status.success(), "{made:?}");
    (cert, key)
}

/// A certificate authority (`(cert, key)`) named `subject` in `dir`.
pub(crate) fn authority(dir: &Path, name: &str, subject: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args([
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            subject,
        ])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{made:?}");
    (cert, key)
}

/// A PEM certificate as DER, by openssl.
pub(crate) fn der(cert: &Path) -> Vec<u8> {
    Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(cert)
        .output()
        .unwrap()
        .stdout
}

/// A fresh folder with a server certificate for 127.0.0.1 and two client certificates, each
/// `(cert, key)`; removed when dropped.
pub(crate) struct Certificates {
    pub(crate) dir: PathBuf,
    pub(crate) server: (PathBuf, PathBuf),
    pub(crate) ours: (PathBuf, PathBuf),
    pub(crate) theirs: (PathBuf, PathBuf),
}

impl Certificates {
    pub(crate) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("authstar-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            server: certificate(
                &dir,
                "server",
                "/CN=localhost",
                Some("subjectAltName=IP:127.0.0.1"),
            ),
            ours: certificate(&dir, "ours", "/CN=reports-job", None),
            theirs: certificate(&dir, "theirs", "/CN=someone-else", None),
            dir,
        }
    }
}

impl Drop for Certificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether `program` runs here.
pub(crate) fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
        || Command::new(program)
            .arg("version")
            .output()
            .is_ok_and(|output| output.status.success())
}

/// A certificate for `subject` with `san` (an `-addext` value) issued by `ca` that expired in
/// 2020 (`openssl ca`, the one openssl command that sets past dates): `(cert, key)`.
pub(crate) fn expired(
    dir: &Path,
    name: &str,
    subject: &str,
    ca: &(PathBuf, PathBuf),
    san: &str,
) -> (PathBuf, PathBuf) {
    let work = dir.join(format!("{name}-ca"));
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("index.txt"), "").unwrap();
    std::fs::write(work.join("serial"), "01\n").unwrap();
    std::fs::write(
        work.join("ca.cnf"),
        "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\nnew_certs_dir = .\n\
         serial = serial\ndefault_md = sha256\npolicy = anything\ncopy_extensions = copy\n\
         unique_subject = no\n[anything]\ncommonName = supplied\norganizationName = optional\n",
    )
    .unwrap();
    let (cert, key, csr) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
        work.join("request.csr"),
    );
    let request = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-subj", subject, "-addext", san, "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .output()
        .expect("openssl runs");
    assert!(request.status.success(), "{request:?}");
    let signed = Command::new("openssl")
        .current_dir(&work)
        .args(["ca", "-batch", "-notext", "-config", "ca.cnf", "-cert"])
        .arg(&ca.0)
        .arg("-keyfile")
        .arg(&ca.1)
        .args([
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200102000000Z",
            "-in",
        ])
        .arg(&csr)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(signed.status.success(), "{signed:?}");
    (cert, key)
}
