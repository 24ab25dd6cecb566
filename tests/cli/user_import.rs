//! SPEC §15 "Users and hashes": `user import` reads `user export --json` output (names,
//! e-mail, full name, groups, disabled and times come back as they were) as well as htpasswd
//! lines, skips names confusable with a user's, and exits 1 when a file with users imported
//! none; `user export` names the users whose hashes htpasswd cannot check.
use crate::common;

use common::{Env, Exits, bytes, json, stderr_str as stderr, stdout_str as stdout};
use serde_json::{Value, json};

const PW: &str = "alice-Pw-7gQ!zX";

fn exported(env: &Env) -> Value {
    let out = env.cmd().args(["user", "export", "--json"]).exits(0);
    assert_eq!(stderr(&out), "");
    json(&out.stdout)
}

fn write(env: &Env, name: &str, text: &str) -> std::path::PathBuf {
    let p = env.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `PW` hashed at cost 4.
fn hash4(env: &Env) -> String {
    let out = env
        .cmd()
        .args(["hash", "--cost", "4", "--password-stdin"])
        .write_stdin(format!("{PW}\n"))
        .exits(0);
    stdout(&out).trim().to_string()
}

/// Records as `user export --json` prints them, with times of their own.
fn backup(hash: &str) -> Value {
    json!({"users": [
        {"username": "alice", "full_name": "Alice Liddell", "email": "alice@example.com",
         "hashed_password": hash, "disabled": false, "created_at": 1_000_000_000,
         "password_changed_at": 1_100_000_000, "hash_supported": true, "hash_scheme": "bcrypt", "legacy": false,
         "groups": ["admins", "ops"]},
        {"username": "bob", "full_name": null, "email": null, "hashed_password": hash,
         "disabled": true, "created_at": 1_200_000_000, "password_changed_at": 1_200_000_001,
         "hash_supported": true, "hash_scheme": "bcrypt", "legacy": false, "groups": []},
        {"username": "jos\u{e9}", "full_name": "Jos\u{e9}", "email": null,
         "hashed_password": hash, "disabled": false, "created_at": 1_300_000_000,
         "password_changed_at": 1_300_000_000, "hash_supported": true, "hash_scheme": "bcrypt", "legacy": false, "groups": ["x"]}
    ]})
}

#[test]
pub(crate) fn user_export_json_imports_back_as_it_was() {
    let env = Env::new();
    let hash = hash4(&env);
    let file = write(&env, "backup.json", &backup(&hash).to_string());
    env.cmd()
        .arg("user")
        .arg("import")
        .arg(&file)
        .stderr_only(0, "jwtauth: imported 3, skipped 0\n");
    assert_eq!(exported(&env), backup(&hash));
    // The hash came along (checked without a login, which would rehash it); bob stays
    // disabled.
    env.cmd()
        .args(["-q", "user", "check", "alice", "--password-stdin"])
        .write_stdin(format!("{PW}\n"))
        .stderr_only(0, "");
    env.cmd()
        .args(["user", "check", "bob", "--password-stdin"])
        .write_stdin(format!("{PW}\n"))
        .exits(5);
    // On Redis every Env of this test is the same store: the rest needs two.
    if env.store.is_some() {
        return;
    }
    // That store's export goes into a second one and comes out the same.
    let other = Env::new();
    let out = env.cmd().args(["user", "export", "--json"]).exits(0);
    other
        .cmd()
        .args(["-q", "user", "import", "-"])
        .write_stdin(out.stdout)
        .stderr_only(0, "");
    assert_eq!(exported(&other), backup(&hash));
    // A users file itself ({"users": {name: record}}) imports too.
    let third = Env::new();
    third
        .cmd()
        .arg("user")
        .arg("import")
        .arg(env.users())
        .stderr_only(0, "jwtauth: imported 3, skipped 0\n");
    assert_eq!(exported(&third), backup(&hash));
}

#[test]
fn json_records_that_cannot_be_users_are_skipped_with_their_reason() {
    let env = Env::new();
    let hash = hash4(&env);
    env.add_user("carol", PW);
    let doc = json!({"users": [
        {"username": "ok", "hashed_password": hash},
        {"username": "nohash"},
        {"hashed_password": hash},
        {"username": "bad name", "hashed_password": hash},
        {"username": "md5", "hashed_password": "$apr1$abc$def"},
        {"username": "ctl", "hashed_password": hash, "email": "a\u{7}b"},
        {"username": "grp", "hashed_password": hash, "groups": ["a,b"]},
        {"username": "typed", "hashed_password": hash, "disabled": "yes"},
        {"username": "ok", "hashed_password": hash},
        {"username": "carol", "hashed_password": hash},
        {"username": "c\u{430}rol", "hashed_password": hash}
    ]});
    let text = serde_json::to_string_pretty(&doc).unwrap();
    let file = write(&env, "in.json", &text);
    let out = env
        .cmd()
        .args(["--json", "user", "import"])
        .arg(&file)
        .exits(0);
    let v = json(&out.stdout);
    assert_eq!(v["imported"], json!(["ok"]));
    assert_eq!(v["replaced"], json!([]));
    let skipped: Vec<(String, String)> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let reasons: Vec<(&str, &str)> = skipped
        .iter()
        .map(|(n, r)| (n.as_str(), r.split(' ').next().unwrap_or("")))
        .collect();
    assert_eq!(
        reasons,
        [
            ("nohash", "no"),
            ("", "no"),
            ("bad name", "invalid"),
            ("md5", "MD5"),
            ("ctl", "email"),
            ("grp", "invalid"),
            ("typed", "not"),
            ("ok", "appears"),
            ("carol", "user"),
            ("c\u{430}rol", "confusable"),
        ],
        "{skipped:?}"
    );
    // Each skip names the line its record starts on.
    let lines: Vec<i64> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["line"].as_i64().unwrap())
        .collect();
    assert!(lines.windows(2).all(|w| w[0] < w[1]), "{lines:?}");
    // --replace applies to JSON records as to htpasswd lines.
    let doc = json!({"users": [{"username": "carol", "hashed_password": hash, "disabled": true}]});
    let file = write(&env, "carol.json", &doc.to_string());
    env.cmd()
        .args(["user", "import", "--replace"])
        .arg(&file)
        .stderr_only(0, "jwtauth: imported 0, replaced 1, skipped 0\n");
    env.cmd()
        .args(["user", "check", "carol", "--password-stdin"])
        .write_stdin(format!("{PW}\n"))
        .exits(5);
}

/// A name given twice in the object form (`{"users": {name: record}}`) is skipped as a
/// duplicate, as in the list form: the first record is imported and the second reported,
/// never "last one wins" (SPEC §8).
#[test]
fn a_name_given_twice_in_a_users_object_is_skipped_as_in_a_list() {
    let env = Env::new();
    let hash = hash4(&env);
    let text = format!(
        "{{\"users\": {{\"alice\": {{\"hashed_password\": \"{hash}\", \"groups\": [\"first\"]}},\n\"alice\": {{\"hashed_password\": \"{hash}\", \"groups\": [\"second\"]}}}}}}"
    );
    write(&env, "users.json", &text);
    env.cmd().args(["user", "import", "users.json"]).stderr_only(
        0,
        "jwtauth: users.json:2: \"alice\" skipped: appears earlier in the file\njwtauth: imported 1, skipped 1: 1 duplicate\n",
    );
    let users = exported(&env)["users"].clone();
    assert_eq!(users.as_array().map(Vec::len), Some(1), "{users}");
    assert_eq!(users[0]["groups"], json!(["first"]));
}

#[test]
fn an_import_that_imports_nothing_is_exit_1() {
    let env = Env::new();
    let hash = hash4(&env);
    env.add_user("alice", PW);
    let ht = write(
        &env,
        "users.htpasswd",
        &format!("alice:{hash}\nmd5:$apr1$abc$def\n"),
    );
    let before = bytes(&env.users());
    env.cmd().args(["user", "import"]).arg(&ht).stderr_only(
        1,
        format!(
            "jwtauth: {p}:1: \"alice\" skipped: user already exists (use --replace)\n\
             jwtauth: {p}:2: \"md5\" skipped: MD5 ($apr1$) hash: expected a digest of 22 characters of [./0-9A-Za-z] after the salt\n\
             jwtauth: imported 0, skipped 2: 1 MD5 ($apr1$), 1 existing user\n\
             jwtauth: user import: nothing imported from {p}: all 2 skipped\n",
            p = ht.display()
        ),
    );
    // -q keeps the error line; --json still prints the summary.
    env.cmd()
        .args(["-q", "user", "import", "-"])
        .write_stdin(format!("alice:{hash}\n"))
        .stderr_only(
            1,
            "jwtauth: user import: nothing imported from stdin: all 1 skipped\n",
        );
    let out = env
        .cmd()
        .args(["-q", "--json", "user", "import"])
        .arg(&ht)
        .exits(1);
    assert_eq!(json(&out.stdout)["imported"], json!([]));
    // JSON the same way.
    let doc = json!({"users": [{"username": "alice", "hashed_password": hash}]}).to_string();
    env.cmd()
        .args(["-q", "user", "import", "-"])
        .write_stdin(doc)
        .stderr_only(
            1,
            "jwtauth: user import: nothing imported from stdin: all 1 skipped\n",
        );
    assert_eq!(bytes(&env.users()), before);
    // Replacing counts as importing.
    env.cmd()
        .args(["-q", "user", "import", "--replace"])
        .arg(&ht)
        .stderr_only(0, "");
    // A file with no users in it imported nothing, and nothing was asked: 0.
    for empty in [
        "",
        "\n# only a comment\n\n",
        "{\"users\": []}",
        "  {\"users\": {}}\n",
    ] {
        env.cmd()
            .args(["-q", "user", "import", "-"])
            .write_stdin(empty)
            .stderr_only(0, "");
    }
}

#[test]
fn json_that_is_not_an_export_is_exit_8_and_changes_nothing() {
    let env = Env::new();
    env.add_user("alice", PW);
    let before = bytes(&env.users());
    for (text, why) in [
        ("{\"users\": [", "not valid JSON at line 1 column 11"),
        ("{\"people\": []}", "no \"users\""),
        ("{\"users\": 3}", "\"users\" is not a list"),
    ] {
        env.cmd()
            .args(["user", "import", "-"])
            .write_stdin(text)
            .stderr_only(
                8,
                format!(
                    "jwtauth: -: {why}; expected 'jwtauth user export --json' output, {{\"users\": [...]}}\n"
                ),
            );
        assert_eq!(bytes(&env.users()), before, "{text}");
    }
}

#[test]
pub(crate) fn import_skips_names_confusable_with_a_user_or_an_earlier_line() {
    let env = Env::new();
    let hash = hash4(&env);
    env.add_user("alice", PW);
    let ht = write(
        &env,
        "users.htpasswd",
        &format!("\u{430}lice:{hash}\nbOb:{hash}\nb0b:{hash}\njose\u{301}:{hash}\n"),
    );
    env.cmd().args(["user", "import"]).arg(&ht).stderr_only(
        0,
        format!(
            "jwtauth: {p}:1: \"\u{430}lice\" skipped: confusable with the user \"alice\" (UTS #39)\n\
             jwtauth: {p}:3: \"b0b\" skipped: confusable with the user \"bOb\" (UTS #39)\n\
             jwtauth: imported 2, skipped 2: 2 confusable name\n",
            p = ht.display()
        ),
    );
    let v = exported(&env);
    let names: Vec<&str> = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    // The NFD line is stored in NFC.
    assert_eq!(names, ["alice", "bOb", "jos\u{e9}"]);
}

#[test]
fn user_export_names_the_hashes_htpasswd_cannot_check() {
    let env = Env::new();
    let bcrypt = hash4(&env);
    let argon = stdout(
        &env.cmd()
            .args(["hash", "--scheme", "argon2id", "--password-stdin"])
            .write_stdin(format!("{PW}\n"))
            .exits(0),
    )
    .trim()
    .to_string();
    let sha512 = "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/";
    let record = |name: &str, hash: &str| {
        json!({"username": name, "hashed_password": hash, "disabled": false,
               "created_at": 1, "password_changed_at": 1})
    };
    let doc = json!({"version": 1, "users": {
        "alice": record("alice", &bcrypt),
        "carol": record("carol", &argon),
        "dave": record("dave", sha512),
    }});
    std::fs::create_dir_all(env.users().parent().unwrap()).unwrap();
    std::fs::write(env.users(), doc.to_string()).unwrap();
    let out = env.cmd().args(["user", "export"]).exits(0);
    assert_eq!(
        stdout(&out),
        format!("alice:{bcrypt}\ncarol:{argon}\ndave:{sha512}\n")
    );
    assert_eq!(
        stderr(&out),
        "jwtauth: htpasswd cannot check the hashes of 2 exported user(s): carol (argon2id), \
         dave (SHA-crypt or MD5-crypt: only where the system's crypt(3) has it, as on Linux)\n"
    );
    env.cmd()
        .args(["-q", "user", "export"])
        .assert()
        .code(0)
        .stderr("");
}
