//! `examples/jwtauth.service`, the hardened systemd unit (README "Running under systemd"):
//! `systemd-analyze verify` accepts it, `systemd-analyze security` rates it as the README says,
//! and what it tells the binary works with the real binary: its `Environment=` puts every file
//! jwtauth writes in its `StateDirectory=` and reads the configuration from its
//! `ConfigurationDirectory=`, `ExecReload=` reloads `serve` and SIGTERM stops it with 0.
//!
//! systemd need not run here: `verify` and `security --offline=true` read the unit file only.
//! The unit's directories are mapped into a temp dir (`/var/lib/…` → `<tmp>/var/lib/…`).
use crate::common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Env, Exits, bin, json, skip, stderr_str, stdout_str};
use serde_json::json;

/// The unit's exposure as `systemd-analyze security` (systemd 252) rates it: 1.2, "OK"; the
/// README quotes it. A little margin for another systemd's weights.
const MAX_EXPOSURE: f64 = 1.3;

/// The checks of `systemd-analyze security` the unit fails on purpose, each for a reason the
/// unit's comments give. Any other failed check is a regression.
const ACCEPTED_EXPOSURES: &[&str] = &[
    // A network daemon: clients, and Redis maybe on another host.
    "PrivateNetwork=",
    "RestrictAddressFamilies=~AF_(INET|INET6)",
    // A Redis socket and the resolver (nscd).
    "RestrictAddressFamilies=~AF_UNIX",
    // An allow list would break Redis or a proxy on another host (a drop-in can add one).
    "IPAddressDeny=",
    // setpriority(2): the hashing threads lower their own priority.
    "SystemCallFilter=~@resources",
    // ProtectClock= itself allows reading the RTC; no root image is shipped.
    "DeviceAllow=",
    "RootDirectory=/RootImage=",
];

/// How long `serve` may take to start, reload or stop (a loaded 2-core builder).
const DEADLINE: Duration = Duration::from_secs(60);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn unit_text() -> String {
    std::fs::read_to_string(root().join("examples/jwtauth.service")).expect("read the unit")
}

/// The values of every `KEY=` line of the unit, in order.
fn directive(unit: &str, key: &str) -> Vec<String> {
    let prefix = format!("{key}=");
    unit.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(str::to_string)
        .collect()
}

/// The one `KEY=` line of the unit.
fn single(unit: &str, key: &str) -> String {
    let values = directive(unit, key);
    assert_eq!(values.len(), 1, "the unit has one {key}=: {values:?}");
    values[0].clone()
}

/// `systemd-analyze`, if installed (Debian's `systemd` package) and new enough for
/// `security --offline` (systemd 250); else `None` after `skip`.
fn systemd_analyze() -> Option<()> {
    let version = Command::new("systemd-analyze").arg("--version").output();
    let Ok(out) = version.as_ref() else {
        skip("systemd-analyze (Debian package systemd) is not installed");
        return None;
    };
    // "systemd 252 (252.38-1~deb12u1)"
    let major = stdout_str(out)
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse::<u32>().ok());
    if major.is_none_or(|m| m < 250) {
        skip(&format!(
            "systemd-analyze is older than 250 (no security --offline): {}",
            stdout_str(out).lines().next().unwrap_or("")
        ));
        return None;
    }
    Some(())
}

/// A copy of the unit, under its own name, in `dir`, with `ExecStart=` running the binary
/// under test (verify checks that it exists), and a `MANPATH` holding `jwtauth man`'s page
/// (verify checks `Documentation=man:jwtauth(1)` too).
fn unit_copy(dir: &Path) -> (PathBuf, PathBuf) {
    let unit = unit_text();
    let exec = single(&unit, "ExecStart");
    let args = exec
        .strip_prefix("/usr/local/bin/jwtauth")
        .expect("ExecStart runs /usr/local/bin/jwtauth");
    let copy = unit.replace(
        &format!("ExecStart={exec}"),
        &format!("ExecStart={}{args}", bin().display()),
    );
    let path = dir.join("jwtauth.service");
    std::fs::write(&path, copy).expect("write the copy");
    let man = dir.join("man");
    std::fs::create_dir_all(man.join("man1")).expect("mkdir man1");
    let page = Command::new(bin())
        .arg("man")
        .output()
        .expect("jwtauth man");
    assert!(page.status.success(), "jwtauth man: {}", stderr_str(&page));
    std::fs::write(man.join("man1/jwtauth.1"), &page.stdout).expect("write the man page");
    (path, man)
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("run {:?}: {e}", cmd.get_program()))
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    if systemd_analyze().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (unit, man) = unit_copy(dir.path());
    let mut verify = Command::new("systemd-analyze");
    verify.arg("verify").arg(&unit).env("MANPATH", &man);
    // verify looks Documentation=man:… up with man(1); CI has it (man-db).
    if Command::new("man").arg("--version").output().is_err() {
        skip("man (man-db) is not installed: Documentation= is not checked");
        verify.arg("--man=no");
    }
    let out = run(&mut verify);
    let stderr = stderr_str(&out);
    assert!(out.status.success(), "verify failed:\n{stderr}");
    // Warnings (an unknown or misspelt key, a bad value) name the file and exit 0 all the same.
    let about_it: Vec<&str> = stderr.lines().filter(|l| l.contains("jwtauth")).collect();
    assert!(about_it.is_empty(), "verify warns:\n{stderr}");
    assert_eq!(stdout_str(&out), "");
}

#[test]
fn unit_is_rated_ok_by_systemd_analyze_security() {
    if systemd_analyze().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (unit, _) = unit_copy(dir.path());
    let out = run(Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&unit));
    let text = stdout_str(&out);
    assert!(out.status.success(), "security: {}", stderr_str(&out));
    // "→ Overall exposure level for jwtauth.service: 1.2 OK 🙂" (ASCII "->" in the C locale)
    let overall = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for jwtauth.service: ")
                .nth(1)
        })
        .unwrap_or_else(|| panic!("no overall exposure in:\n{text}"));
    let exposure: f64 = overall
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number in {overall:?}"));
    assert!(
        exposure <= MAX_EXPOSURE,
        "exposure {overall} is above {MAX_EXPOSURE}:\n{text}"
    );

    let out = run(Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--json=short"])
        .arg(&unit));
    assert!(out.status.success(), "security: {}", stderr_str(&out));
    let checks = json(&out.stdout);
    let failed: Vec<&str> = checks
        .as_array()
        .expect("a list of checks")
        .iter()
        .filter(|c| c["set"] == json!(false))
        .map(|c| c["name"].as_str().expect("a check's name"))
        .collect();
    let unexpected: Vec<&&str> = failed
        .iter()
        .filter(|n| !ACCEPTED_EXPOSURES.contains(n))
        .collect();
    assert!(
        unexpected.is_empty(),
        "checks failed that the unit should pass: {unexpected:?}\n{text}"
    );
    for must in [
        "NoNewPrivileges=",
        "ProtectSystem=",
        "MemoryDenyWriteExecute=",
        "User=/DynamicUser=",
        "CapabilityBoundingSet=~CAP_SYS_ADMIN",
        "SystemCallFilter=~@privileged",
    ] {
        assert!(
            checks
                .as_array()
                .expect("a list of checks")
                .iter()
                .any(|c| c["name"] == json!(must) && c["set"] == json!(true)),
            "{must} is not passed:\n{text}"
        );
    }
}

/// The unit's files mapped into a temp dir: the environment it gives jwtauth, its state and
/// configuration directories, and the configuration file's place.
struct Layout {
    env: Env,
    vars: Vec<(String, PathBuf)>,
    state_dir: PathBuf,
    config_dir: PathBuf,
    config_file: PathBuf,
}

impl Layout {
    /// The unit's layout; the example configuration installed as the README says, if
    /// `with_config`.
    fn new(with_config: bool) -> Layout {
        let env = Env::new();
        let sys = env.path().join("sys");
        let unit = unit_text();
        let mapped = |p: &str| sys.join(p.trim_start_matches('/'));
        let mut vars = Vec::new();
        for line in directive(&unit, "Environment") {
            for pair in line.split_whitespace() {
                let (k, v) = pair.split_once('=').expect("Environment=K=V");
                assert!(v.starts_with('/'), "{k}={v}: an absolute path");
                vars.push((k.to_string(), mapped(v)));
            }
        }
        let state_dir = mapped("/var/lib").join(single(&unit, "StateDirectory"));
        let config_dir = mapped("/etc").join(single(&unit, "ConfigurationDirectory"));
        // systemd makes both before ExecStart=.
        std::fs::create_dir_all(&state_dir).expect("mkdir state");
        std::fs::create_dir_all(&config_dir).expect("mkdir config");
        let config_file = config_dir.join("config.toml");
        if with_config {
            std::fs::copy(root().join("examples/jwtauth.toml"), &config_file)
                .expect("install the example config");
        }
        Layout {
            env,
            vars,
            state_dir,
            config_dir,
            config_file,
        }
    }

    /// jwtauth with the unit's environment (and HOME=/, as for a dynamic user).
    fn cmd(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.std_cmd())
    }

    fn std_cmd(&self) -> Command {
        let mut cmd = self.env.std_cmd();
        cmd.env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .env("HOME", "/")
            .envs(self.vars.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Every file under the configuration directory, with its bytes.
    fn config_snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(&self.config_dir)
            .expect("read the config dir")
            .map(|e| e.expect("dir entry").path())
            .map(|p| {
                let b = common::bytes(&p);
                (p, b)
            })
            .collect();
        files.sort();
        files
    }

    /// The names in the state directory.
    fn state_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.state_dir)
            .expect("read the state dir")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }
}

#[test]
fn unit_environment_keeps_every_file_in_the_state_directory() {
    let l = Layout::new(true);
    let out = l.cmd().args(["paths", "--json"]).exits(0);
    assert_eq!(
        json(&out.stdout),
        json!({
            "users": l.state_dir.join("users.json"),
            "state": l.state_dir.join("revocations.json"),
            "key": l.state_dir.join("secret"),
            "key_source": "default",
        })
    );
    // The configuration file is the one in /etc, loaded (listen comes from it).
    let config = json(&l.cmd().args(["config", "--json"]).exits(0).stdout);
    assert_eq!(config["config"]["value"], json!(l.config_file));
    assert_eq!(config["config"]["loaded"], json!(true));
    assert_eq!(config["serve.listen"]["value"], json!("127.0.0.1:8080"));
    assert_eq!(config["serve.listen"]["source"], json!("file"));

    // The README's first steps, as the service's user would run them: the key the first
    // login makes, the users, the revocations all land in the state directory.
    let before = l.config_snapshot();
    l.cmd()
        .args(["user", "add", "alice", "--scheme", "bcrypt", "--cost", "4"])
        .arg("--password-stdin")
        .write_stdin("correct horse\n")
        .stderr_only(0, "jwtauth: added user alice\n");
    let token = l
        .cmd()
        .args(["login", "alice", "--password-stdin"])
        .write_stdin("correct horse\n")
        .exits(0);
    assert_eq!(
        stderr_str(&token),
        format!(
            "jwtauth: created a new HS256 signing key at {}\n",
            l.state_dir.join("secret").display()
        )
    );
    l.cmd()
        .arg("logout")
        .arg(stdout_str(&token).trim())
        .exits(0);
    let files = l.state_files();
    for want in ["users.json", "revocations.json", "secret", "secret.alg"] {
        assert!(files.iter().any(|f| f == want), "no {want} in {files:?}");
    }
    assert_eq!(l.config_snapshot(), before, "the config directory changed");
}

#[test]
fn unit_without_its_configuration_file_does_not_start() {
    // JWTAUTH_CONFIG names /etc/jwtauth/config.toml, which must exist (README): a unit
    // installed without it fails at once with one line in the journal, and makes nothing.
    let l = Layout::new(false);
    l.cmd().arg("serve").stderr_only(
        8,
        format!(
            "jwtauth: {}: no such configuration file\n",
            l.config_file.display()
        ),
    );
    assert_eq!(l.state_files(), Vec::<String>::new());
    assert_eq!(l.config_snapshot(), Vec::new());
}

#[test]
fn unit_reload_and_stop_reach_serve() {
    let l = Layout::new(true);
    let unit = unit_text();
    let exec = single(&unit, "ExecStart");
    let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
    assert_eq!(args, ["serve"]);
    let reload = single(&unit, "ExecReload");
    let reloader = reload.split_whitespace().next().expect("a command");
    if !Path::new(reloader).exists() {
        skip(&format!(
            "{reloader} (Debian package procps) is not installed"
        ));
        return;
    }
    // The example's listen address (8080) may be taken here: a free port instead (a flag).
    let mut child = Running(
        l.std_cmd()
            .args(&args)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn jwtauth serve"),
    );
    let stderr = child.0.stderr.take().expect("stderr");
    let (tx, lines) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |what: &str| loop {
        match lines.recv_timeout(DEADLINE) {
            Ok(line) if line.contains(what) => return line,
            Ok(_) => {}
            Err(e) => panic!("no line with {what:?} from serve ({e})"),
        }
    };
    wait_for("jwtauth: listening on http://127.0.0.1:");
    // The key the first start made is in the state directory.
    assert!(l.state_dir.join("secret").exists(), "{:?}", l.state_files());

    // ExecReload=, as systemd runs it.
    let pid = child.0.id().to_string();
    let argv: Vec<String> = reload
        .split_whitespace()
        .map(|a| a.replace("$MAINPID", &pid))
        .collect();
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .status()
        .unwrap_or_else(|e| panic!("run {reload}: {e}"));
    assert!(status.success(), "{reload}: {status}");
    wait_for("configuration reloaded");

    // systemctl stop: SIGTERM (KillSignal= is left at its default), exit 0.
    assert!(directive(&unit, "KillSignal").is_empty());
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    // Its stderr closes when it exits.
    loop {
        match lines.recv_timeout(DEADLINE) {
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("serve did not stop within {DEADLINE:?} of SIGTERM ({e})"),
        }
    }
    let exit = child.0.wait().expect("wait");
    assert_eq!(exit.code(), Some(0), "serve's exit after SIGTERM");
    reader.join().expect("stderr reader");
}

/// A `serve` process, killed if the test ends before it stopped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
