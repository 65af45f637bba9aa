//! A private Postfix instance for the end-to-end tests: its own
//! configuration, queue and log in a temporary directory, smtpd on a
//! loopback port, stopped on drop (even when the test fails). Debian's
//! postfix package must be installed (scripts/test.sh and .ci/run install
//! it); the tests run as root, as Postfix's master does.
//!
//! Nothing here sends mail anywhere: the tests speak SMTP to this instance
//! on 127.0.0.1 and stop before DATA, and `mydestination` is empty.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::*;

/// A running private Postfix.
pub struct Postfix {
    dir: Dir,
    /// The loopback port smtpd listens on.
    pub smtp_port: u16,
}

impl Postfix {
    /// Starts an instance whose `smtpd_recipient_restrictions` are
    /// `restrictions` (e.g. `check_policy_service inet:127.0.0.1:PORT,
    /// permit`), with extra `main.cf` settings.
    pub fn start(restrictions: &str, extra: &[&str]) -> Postfix {
        let postfix = Path::new("/usr/sbin/postfix");
        assert!(
            postfix.exists(),
            "postfix is not installed: run scripts/test.sh or .ci/run (Debian's postfix package)"
        );
        let dir = Dir::new();
        let root = dir.tmp.path().to_path_buf();
        // Postfix's daemons run as the postfix user: they must be able to
        // walk to the queue and data directories.
        chmod(&root, 0o755);
        let etc = root.join("etc");
        let out = Command::new("cp")
            .arg("-r")
            .arg("/etc/postfix")
            .arg(&etc)
            .output()
            .expect("cp");
        assert!(out.status.success(), "cp /etc/postfix: {out:?}");
        let main_cf = etc.join("main.cf");
        if std::fs::metadata(&main_cf)
            .map(|m| m.len() == 0)
            .unwrap_or(true)
        {
            std::fs::copy(etc.join("main.cf.proto"), &main_cf).expect("main.cf.proto");
        }
        for d in ["spool", "data"] {
            std::fs::create_dir(root.join(d)).unwrap();
        }
        let status = Command::new("chown")
            .arg("postfix")
            .arg(root.join("data"))
            .status()
            .expect("chown");
        assert!(status.success(), "chown postfix (the tests run as root)");
        let smtp_port = free_port();
        let path = |p: &str| root.join(p).display().to_string();
        // main.cf.proto leaves these empty, which Postfix refuses: the
        // defaults will do.
        postconf(
            &etc,
            "-X",
            &[
                "sendmail_path",
                "newaliases_path",
                "mailq_path",
                "setgid_group",
                "html_directory",
                "manpage_directory",
                "sample_directory",
                "readme_directory",
            ],
        );
        let mut settings = vec![
            format!("queue_directory={}", path("spool")),
            format!("data_directory={}", path("data")),
            "inet_interfaces=127.0.0.1".into(),
            "inet_protocols=ipv4".into(),
            "myhostname=test.localdomain".into(),
            "mydestination=".into(),
            "relay_domains=".into(),
            format!("maillog_file={}", path("maillog")),
            format!("maillog_file_prefixes={}", root.display()),
            "compatibility_level=3.6".into(),
            "alias_maps=".into(),
            "alias_database=".into(),
            "mynetworks=127.0.0.0/8".into(),
            // Mail queued by mistake is discarded, never sent anywhere.
            "default_transport=discard:test instance".into(),
            "relay_transport=discard:test instance".into(),
            format!("smtpd_recipient_restrictions={restrictions}"),
        ];
        settings.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = settings.iter().map(String::as_str).collect();
        postconf(&etc, "-e", &refs);
        write_master_cf(&etc.join("master.cf"), smtp_port);
        let pf = Postfix { dir, smtp_port };
        pf.control("check");
        pf.control("start");
        // smtpd answers once master has bound its port.
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", smtp_port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "postfix did not listen on 127.0.0.1:{smtp_port}; its log:\n{}",
                pf.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        pf
    }

    fn etc(&self) -> PathBuf {
        self.dir.path("etc")
    }

    fn control(&self, what: &str) {
        let out = Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(self.etc())
            .arg(what)
            .output()
            .expect("postfix");
        assert!(
            out.status.success(),
            "postfix {what} failed: {}{}\nlog:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    /// The instance's log so far (`maillog_file`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path("maillog")).unwrap_or_default()
    }

    /// Waits until the log has a line containing `needle` (postlogd
    /// writes it a moment after the event).
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(needle) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(self.etc())
            .arg("stop")
            .output();
    }
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn postconf(etc: &Path, flag: &str, args: &[&str]) {
    let out = Command::new("/usr/sbin/postconf")
        .arg("-c")
        .arg(etc)
        .arg(flag)
        .args(args)
        .output()
        .expect("postconf");
    assert!(out.status.success(), "postconf {flag} {args:?}: {out:?}");
}

/// smtpd on `127.0.0.1:PORT` instead of port 25; no service chrooted (so
/// nothing is needed under /var/spool/postfix).
fn write_master_cf(path: &Path, port: u16) {
    let text = std::fs::read_to_string(path).expect("master.cf");
    let mut out = String::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let service = !line.starts_with(['#', ' ', '\t']) && f.len() >= 8;
        if !service {
            out.push_str(line);
        } else if f[0] == "smtp" && f[1] == "inet" {
            out.push_str(&format!("127.0.0.1:{port} inet n - n - - smtpd"));
        } else {
            let mut f = f.clone();
            f[4] = "n";
            out.push_str(&f.join(" "));
        }
        out.push('\n');
    }
    if !out.contains("postlogd") {
        out.push_str("postlog unix-dgram n - n - 1 postlogd\n");
    }
    std::fs::write(path, out).expect("master.cf");
}

/// Speaks SMTP to `127.0.0.1:port` with Python's smtplib (a client we did
/// not write): EHLO, MAIL FROM `sender`, one RCPT TO per recipient, QUIT
/// (no DATA). Returns each RCPT reply as `(code, text)`.
pub fn smtp_rcpt(port: u16, sender: &str, rcpts: &[&str]) -> Vec<(u16, String)> {
    let script = r#"
import json, smtplib, sys
port, sender, rcpts = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
s = smtplib.SMTP("127.0.0.1", port, timeout=30)
s.ehlo("client.test")
code, text = s.mail(sender)
assert code == 250, (code, text)
out = []
for r in rcpts:
    code, text = s.rcpt(r)
    out.append([code, text.decode("utf-8", "replace")])
s.quit()
print(json.dumps(out))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(port.to_string())
        .arg(sender)
        .args(rcpts)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "smtplib failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<(u16, String)> = serde_json::from_slice(&out.stdout).expect("smtplib output");
    rows
}
