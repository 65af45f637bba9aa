//! The test harness: run the real binary, serve zones on loopback (our lab
//! or knot), read JSONL results.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test. Every command gets its own history database
/// (PREBOUNCE_DB) unless the test names one with --db, so no test writes to
/// the user's data directory or sees another test's history.
pub fn bin() -> Command {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"));
    let db = dir.path().join(format!(
        "history-{}.sqlite",
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_prebounce"));
    // The lab serves no gmail.com: tests that check the resolver health
    // check name their canaries (--dns-canary).
    cmd.env("PREBOUNCE_DB", db)
        .env("PREBOUNCE_DNS_CANARY", "none")
        .env_remove("PREBOUNCE_NOW");
    cmd
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture file under tests/fixtures.
pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// A temporary directory for one test.
pub struct Dir {
    pub tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            tmp: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, content).expect("write");
        p
    }
}

/// Runs the binary with `args` and `stdin`.
pub fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    run_env(args, stdin, &[])
}

/// Runs the binary with `args`, `stdin` and environment variables.
pub fn run_env(args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
    let mut cmd = bin();
    cmd.envs(env.iter().copied());
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn prebounce");
    if let Some(input) = stdin {
        let mut s = child.stdin.take().unwrap();
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = s.write_all(&input);
        });
    }
    child.wait_with_output().expect("wait")
}

/// Runs and insists on exit 0.
pub fn run_ok(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let out = run(args, stdin);
    assert!(
        out.status.success(),
        "prebounce {args:?} failed: {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Parses JSONL output.
pub fn jsonl(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .expect("UTF-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// Results keyed by address.
pub fn by_address(rows: &[Value]) -> BTreeMap<String, Value> {
    rows.iter()
        .map(|r| (r["address"].as_str().unwrap().to_string(), r.clone()))
        .collect()
}

/// The warnings of a row as strings.
pub fn warnings(row: &Value) -> Vec<String> {
    row["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect()
}

/// A `prebounce lab serve` process on an ephemeral loopback port, logging
/// every query it receives.
pub struct LabProcess {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

/// A server run from the real binary (`lab serve`, `serve`, `policy`): it
/// prints where it listens on the first line of its standard output, and
/// its standard error is collected line by line while it runs.
pub struct Spawned {
    pub child: Child,
    /// The first line of standard output, trimmed (empty if it exited
    /// first).
    pub listen: String,
    pub log: Arc<Mutex<Vec<String>>>,
}

/// Starts `cmd` as a [`Spawned`] server.
pub fn spawn_server(cmd: &mut Command, what: &str) -> Spawned {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("{what}: its address: {e}"));
    Spawned {
        child,
        listen: line.trim().to_string(),
        log,
    }
}

impl Spawned {
    /// Fails the test with what the server said, once it has exited.
    pub fn did_not_start(mut self, what: &str) -> ! {
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        panic!(
            "{what} did not start: {:?} {:?}",
            self.listen,
            self.log.lock().unwrap()
        )
    }
}

/// The observations of `domain` in the history store `db`, oldest first
/// (`prebounce history --format json`).
pub fn timeline(db: &Path, domain: &str) -> Vec<Value> {
    let out = run_ok(
        &[
            "history",
            domain,
            "--db",
            db.to_str().unwrap(),
            "--format",
            "json",
        ],
        None,
    );
    let h: Value = serde_json::from_slice(&out.stdout).unwrap();
    h["observations"].as_array().unwrap().clone()
}

impl LabProcess {
    pub fn start(zones: &[&Path], extra: &[&str]) -> LabProcess {
        let mut cmd = bin();
        cmd.args(["lab", "serve", "--listen", "127.0.0.1:0", "--log-queries"]);
        cmd.args(zones);
        cmd.args(extra);
        let lab = spawn_server(&mut cmd, "lab");
        let Ok(addr) = lab.listen.parse() else {
            lab.did_not_start("lab")
        };
        LabProcess {
            child: lab.child,
            addr,
            log: lab.log,
        }
    }

    /// `--resolver ADDR` for this lab.
    pub fn resolver(&self) -> String {
        self.addr.to_string()
    }

    /// Queries logged so far as `(transport, type, name)`. The log is read
    /// by a thread from the lab's standard error: wait until it has been
    /// still for 100 ms (at most 2 s), so a query answered just before is
    /// in it.
    pub fn queries(&self) -> Vec<(String, String, String)> {
        let mut seen = self.log.lock().unwrap().len();
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(100));
            let now = self.log.lock().unwrap().len();
            if now == seen {
                break;
            }
            seen = now;
        }
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| {
                let mut w = l.strip_prefix("query ")?.split(' ');
                Some((
                    w.next()?.to_string(),
                    w.next()?.to_string(),
                    w.next()?.to_lowercase(),
                ))
            })
            .collect()
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UDP "resolver" that reads queries and never answers.
pub struct SilentServer {
    pub addr: SocketAddr,
    _socket: UdpSocket,
}

impl SilentServer {
    pub fn start() -> SilentServer {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        SilentServer {
            addr: socket.local_addr().unwrap(),
            _socket: socket,
        }
    }
}

/// A minimal DNS query for `name` type SOA (for readiness checks).
fn soa_query(name: &str) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 6, 0, 1]);
    q
}

/// Waits until a DNS server at `addr` answers an SOA query for `zone`.
pub fn wait_for_dns(addr: SocketAddr, zone: &str, limit: Duration) -> bool {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        let _ = socket.send_to(&soa_query(zone), addr);
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            // An answer with RCODE 0 (the zone is loaded).
            if n > 12 && buf[0] == 0x12 && buf[1] == 0x34 && buf[3] & 0x0f == 0 {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A free loopback port for UDP and TCP.
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// A third-party DNS server process (knot, unbound) on a loopback port,
/// killed on drop.
pub struct Daemon {
    child: Child,
    pub addr: SocketAddr,
    _dir: Dir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// Runs `program` (the first of `candidates` that exists) with `args`,
    /// then waits until it answers DNS on `addr`.
    pub fn start(
        candidates: &[&str],
        args: &[&std::ffi::OsStr],
        addr: SocketAddr,
        dir: Dir,
    ) -> Daemon {
        let program = candidates
            .iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or_else(|| {
                panic!(
                    "{} is not installed: run scripts/test.sh or .ci/run",
                    candidates[0]
                )
            });
        let child = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let mut daemon = Daemon {
            child,
            addr,
            _dir: dir,
        };
        if !wait_for_dns(addr, ".", Duration::from_secs(20)) {
            let status = daemon.child.try_wait();
            panic!("{program} did not answer on {addr} ({status:?})");
        }
        daemon
    }
}

/// Runs the bundled demo (the README's example) with extra flags.
pub fn demo_rows(extra: &[&str]) -> Vec<Value> {
    let zone = root().join("examples/demo.zone");
    let list = root().join("examples/addresses.txt");
    let mut args = vec![
        "check",
        "--zone",
        zone.to_str().unwrap(),
        list.to_str().unwrap(),
    ];
    args.extend(extra);
    args.extend(["--format", "jsonl"]);
    jsonl(&run_ok(&args, None))
}

/// What a test SMTP host does with a connection.
#[derive(Clone)]
pub enum Smtp {
    /// Sends this greeting line, answers EHLO (with STARTTLS) and QUIT.
    Greet(&'static str),
    /// Accepts and never says anything.
    Silent,
}

/// A TCP listener on a loopback address that plays an SMTP host and counts
/// the connections it accepts.
pub struct SmtpHost {
    pub addr: SocketAddr,
    pub accepted: Arc<std::sync::atomic::AtomicUsize>,
    _listener: Arc<std::net::TcpListener>,
}

impl SmtpHost {
    pub fn start(addr: SocketAddr, mode: Smtp) -> SmtpHost {
        let listener = Arc::new(
            std::net::TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}")),
        );
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (l, count) = (listener.clone(), accepted.clone());
        std::thread::spawn(move || {
            for stream in l.incoming() {
                let Ok(mut stream) = stream else { return };
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mode = mode.clone();
                std::thread::spawn(move || match mode {
                    Smtp::Silent => {
                        let mut sink = [0u8; 256];
                        while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
                    }
                    Smtp::Greet(line) => {
                        let _ = stream.write_all(format!("{line}\r\n").as_bytes());
                        let reader = BufReader::new(stream.try_clone().unwrap());
                        for l in reader.lines().map_while(Result::ok) {
                            let l = l.to_ascii_uppercase();
                            if l.starts_with("EHLO") {
                                let _ = stream.write_all(
                                    b"250-test.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
                                );
                            } else if l.starts_with("QUIT") {
                                let _ = stream.write_all(b"221 bye\r\n");
                                return;
                            } else {
                                let _ = stream.write_all(b"502 not here\r\n");
                            }
                        }
                    }
                });
            }
        });
        SmtpHost {
            addr,
            accepted,
            _listener: listener,
        }
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A listener whose accept queue is full and never accepted from: new
/// connections time out (the SYN is dropped).
pub struct Blackhole {
    _listener: socket2::Socket,
    _fillers: Vec<std::net::TcpStream>,
}

impl Blackhole {
    pub fn start(addr: SocketAddr) -> Blackhole {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_reuse_address(true).unwrap();
        s.bind(&addr.into()).unwrap();
        s.listen(0).unwrap();
        // Fill the accept queue (backlog 0 holds one) and the SYN queue.
        let mut fillers = Vec::new();
        for _ in 0..4 {
            let c =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            c.set_nonblocking(true).unwrap();
            let _ = c.connect(&addr.into());
            fillers.push(std::net::TcpStream::from(c));
        }
        std::thread::sleep(Duration::from_millis(100));
        Blackhole {
            _listener: s,
            _fillers: fillers,
        }
    }
}

/// Debian's Chromium, for the tests that render pages.
pub fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("chromium is not installed: run scripts/test.sh, which installs it")
}

/// A Python script that drives headless Chromium over the DevTools
/// protocol (a pipe, no port): started as `python3 -c SCRIPT CHROMIUM
/// PROFILE ARGS...`, it starts Chromium and runs `body` (Python, indented
/// four spaces, `args` holding ARGS) with `call(method, params, session)`,
/// `wait_for(event)` and `js(session, expression)`, then closes Chromium
/// whatever happened.
pub fn devtools_script(body: &str) -> String {
    format!("{DEVTOOLS_PRELUDE}try:\n{body}{DEVTOOLS_FINALLY}")
}

const DEVTOOLS_PRELUDE: &str = r#"
import base64, json, os, signal, subprocess, sys
signal.alarm(90)
chromium, profile, args = sys.argv[1], sys.argv[2], sys.argv[3:]
to_child, to_us = os.pipe(), os.pipe()
def fds():
    a, b = os.dup(to_child[0]), os.dup(to_us[1])
    os.dup2(a, 3)
    os.dup2(b, 4)
proc = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu",
    "--remote-debugging-pipe", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic",
    "--user-data-dir=" + profile, "about:blank"],
    preexec_fn=fds, close_fds=False, stdin=subprocess.DEVNULL,
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.close(to_child[0]); os.close(to_us[1])
out = os.fdopen(to_child[1], "wb", buffering=0)
inp = os.fdopen(to_us[0], "rb", buffering=0)
buf, seq, events = b"", 0, []
def message():
    global buf
    while b"\0" not in buf:
        chunk = inp.read(1 << 16)
        if not chunk:
            raise SystemExit("chromium closed the DevTools pipe")
        buf += chunk
    line, buf = buf.split(b"\0", 1)
    return json.loads(line)
def call(method, params=None, session=None):
    global seq
    seq += 1
    msg = {"id": seq, "method": method, "params": params or {}}
    if session:
        msg["sessionId"] = session
    out.write(json.dumps(msg).encode() + b"\0")
    while True:
        m = message()
        if m.get("id") == seq:
            if "error" in m:
                raise SystemExit("%s: %s" % (method, m["error"]))
            return m["result"]
        events.append(m.get("method"))
def wait_for(event):
    while event not in events:
        events.append(message().get("method"))
    events.clear()
def js(session, expr):
    return call("Runtime.evaluate", {"returnByValue": True, "expression": expr}, session)["result"].get("value")
"#;

const DEVTOOLS_FINALLY: &str = r#"finally:
    try:
        call("Browser.close")
    except BaseException:
        pass
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
"#;
