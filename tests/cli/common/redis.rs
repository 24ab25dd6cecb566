//! A throwaway `redis-server` for the tests of the Redis stores (SPEC §10): on a free loopback
//! port, with a temp directory, no persistence, no system service. Started by the test that
//! needs it, waited for by its "Ready to accept connections" line (no sleeping), killed when
//! dropped. Without `redis-server` installed the test is skipped (a failure in CI, which sets
//! `JWTAUTH_NO_SKIP`).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tempfile::TempDir;

/// How long redis-server may take to start on a loaded machine.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// A running redis-server; killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: TempDir,
}

impl RedisServer {
    /// Starts one on a free port, or `None` after `skip` when redis-server is not installed.
    pub fn start() -> Option<RedisServer> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            super::skip("redis-server is not installed (Debian package redis-server)");
            return None;
        }
        // A free port: bind port 0, note the port, let it go (redis-server's own port 0
        // means "no TCP").
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = RedisServer {
            child: None,
            port,
            dir: tempfile::tempdir().expect("temp dir"),
        };
        server.resume();
        Some(server)
    }

    /// The URL of database 0.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server (as a crash would): every key is gone with it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends `sig` (`STOP`, `CONT`) to the server: a stopped server accepts connections but
    /// never answers, as an overloaded or partitioned one.
    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig} {pid}");
    }

    /// Starts the server (again) on the same port, and waits until it accepts connections.
    pub fn resume(&mut self) {
        self.kill();
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args([
                "--logfile",
                "",
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        // Reads the log for the server's whole life, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if !sent && line.contains("Ready to accept connections") {
                    let _ = tx.send(());
                    sent = true;
                }
            }
        });
        self.child = Some(child);
        rx.recv_timeout(READY_WITHIN)
            .expect("redis-server did not become ready (is the port taken?)");
    }

    /// Runs a redis-cli-like command over a plain socket (RESP), returning the raw reply.
    #[allow(dead_code)]
    pub fn command(&self, args: &[&str]) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).expect("send");
        s.shutdown(std::net::Shutdown::Write).ok();
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        reply
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
