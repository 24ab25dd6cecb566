//! A first end-to-end check of the classic flow on the default files.
mod common;

use common::Env;

#[test]
fn add_login_verify_logout_on_default_files() {
    let env = Env::new();
    env.add_user("alice", "correct horse");
    let token = env.login("alice", "correct horse");
    env.cmd()
        .args(["verify", &token])
        .assert()
        .code(0)
        .stdout("alice\n");
    env.cmd()
        .args(["logout", &token])
        .assert()
        .code(0)
        .stdout("");
    env.cmd()
        .args(["verify", &token])
        .assert()
        .code(4)
        .stdout("")
        .stderr("jwtauth: token revoked: this token was logged out\n");
}
