//! nginx (Debian's package) started by a test on a loopback port, with the test's `server`
//! blocks (or a file of `deploy/`) inside a minimal `http { }`; stopped when dropped.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// A running nginx.
pub(crate) struct Nginx {
    child: std::process::Child,
    /// `scheme://127.0.0.1:port`.
    pub(crate) base: String,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers (a SIGKILL would orphan them, port and all).
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Whether nginx is installed here.
pub(crate) fn installed() -> bool {
    Command::new("nginx").arg("-v").output().is_ok()
}

impl Nginx {
    /// nginx with `server` (whole `server { }` and `upstream { }` blocks) in its `http { }`,
    /// files under `dir/nginx-name`, answering on `port` (which `server` listens on).
    pub(crate) fn start(dir: &Path, name: &str, server: &str, port: u16, scheme: &str) -> Nginx {
        let root = dir.join(format!("nginx-{name}"));
        std::fs::create_dir_all(root.join("temp")).unwrap();
        let config = format!(
            "user root;
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {root}/temp/body;
    proxy_temp_path {root}/temp/proxy;
    fastcgi_temp_path {root}/temp/fastcgi;
    uwsgi_temp_path {root}/temp/uwsgi;
    scgi_temp_path {root}/temp/scgi;
{server}
}}
",
            root = root.display(),
        );
        let path = root.join("nginx.conf");
        std::fs::write(&path, config).unwrap();
        let check = Command::new("nginx")
            .arg("-t")
            .arg("-c")
            .arg(&path)
            .arg("-p")
            .arg(&root)
            .output()
            .expect("nginx runs");
        assert!(
            check.status.success(),
            "nginx -t: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&path)
            .arg("-p")
            .arg(&root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx runs");
        authstar_testkit::serve::until_blocking(
            std::time::Duration::from_secs(10),
            "nginx listening",
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
        Nginx {
            child,
            base: format!("{scheme}://127.0.0.1:{port}"),
        }
    }
}
