#!/usr/bin/env python3
"""End-to-end: jwtauth serve behind real nginx (auth_request /auth) and Caddy (forward_auth
/auth/forward), with a real headless Chromium through nginx (issue 14), and two Chromium
contexts on the account page (issue 24: one ends the other's session).

Started by .ci/run.d/e2e-proxies.sh, which installs nginx, caddy, chromium and Playwright.
Every server runs on a free loopback port and is stopped at the end; nothing sleeps: the
script waits for the start-up line of jwtauth and for the ports of nginx and Caddy.

Environment: JWTAUTH_BIN (the binary), E2E_OUT (where the screenshot goes), CHROMIUM
(/usr/bin/chromium), E2E_SKIP_CADDY=1 when Caddy is not usable here.
"""

import base64
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ["JWTAUTH_BIN"]
OUT = os.environ.get("E2E_OUT", os.path.join(ROOT, "target", "ci-output"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PASSWORD = "e2e-Alice-Pw-8!q"
DEADLINE = 60.0
HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

procs = []
checks = 0


def ok(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1
    print(f"  ok  {what}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, name):
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            # Blocks until the next poll of the child, at most 50 ms: waiting for the port.
            try:
                proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
    raise RuntimeError(f"{name} did not open port {port}")


def request(port, method, path, headers=None, body=None):
    """One HTTP request, redirects not followed; returns (status, headers, body)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = dict(headers or {})
    if body is not None:
        body = urllib.parse.urlencode(body).encode()
        h["Content-Type"] = "application/x-www-form-urlencoded"
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read().decode("utf-8", "replace")
    h = {k.lower(): v for k, v in r.getheaders()}
    # A sign-in sets the session cookie and the throttle's device cookie: "set-cookie" is the
    # session's (what these checks follow), "set-cookies" all of them.
    cookies = [v for k, v in r.getheaders() if k.lower() == "set-cookie"]
    if cookies:
        h["set-cookies"] = cookies
        h["set-cookie"] = next((c for c in cookies if c.startswith("jwtauth_session=")), cookies[0])
    out = (r.status, h, data)
    c.close()
    return out


def jwtauth(env, *args, stdin=None):
    return subprocess.run([BIN, *args], env=env, input=stdin, capture_output=True, text=True, check=True)


def subst(text, mapping):
    for a, b in mapping.items():
        text = text.replace(a, b)
    return text


def check_proxy(name, port, env, browser_redirect_login):
    """The same story through one proxy: no cookie, log in, identity, logout, replay, disable."""
    print(f"== {name} on 127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}"
    st, h, _ = request(port, "GET", "/docs/page?x=1&y=2", {"Accept": HTML})
    ok(st == 302, f"{name}: a browser without a cookie is redirected ({st})")
    want = f"{base}/login?rd=" + urllib.parse.quote(f"{base}/docs/page?x=1&y=2", safe="")
    ok(h.get("location") == want, f"{name}: to the login page with rd = the original URL ({h.get('location')})")
    st, _, _ = request(port, "GET", "/docs/page", {"Accept": "application/json"})
    ok(st == 401, f"{name}: a script without a cookie gets 401 ({st})")
    st, h, page = request(port, "GET", "/login?rd=" + urllib.parse.quote(f"{base}/docs/page"), {"Accept": HTML})
    ok(st == 200 and "<form" in page and h.get("cache-control") == "no-store", f"{name}: the login page is served")
    ok(f'value="{base}/docs/page"' in page, f"{name}: the page keeps rd for the proxy's own host")
    st, h, page = request(port, "POST", "/login", body={"username": "alice", "password": "wrong", "rd": "/"})
    ok(st == 400 and "Incorrect username or password." in page, f"{name}: a wrong password is the page again, 400")
    st, h, _ = request(port, "POST", "/login",
                       body={"username": "alice", "password": PASSWORD, "rd": f"{base}/docs/page"})
    ok(st == 303 and h.get("location") == f"{base}/docs/page", f"{name}: login → 303 to rd ({st} {h.get('location')})")
    cookie = h["set-cookie"].split(";")[0]
    ok(cookie.startswith("jwtauth_session=ey"), f"{name}: the session cookie is set")
    st, h, body = request(port, "GET", "/docs/page", {"Cookie": cookie, "Accept": HTML})
    ok(st == 200 and "Remote-User: alice;" in body, f"{name}: the app sees Remote-User: alice ({st})")
    ok("Remote-Groups: ;" in body, f"{name}: and the Remote-Groups header ({body.strip()[:200]!r})")
    ok(h.get("cache-control") == "no-store", f"{name}: app pages are no-store")
    st, _, body = request(port, "POST", "/form", {"Cookie": cookie}, body={"a": "1"})
    ok(st == 200 and "Remote-User: alice;" in body, f"{name}: a POST to the app passes too ({st})")
    st, _, _ = request(port, "POST", "/form", {"Accept": "application/json"}, body={"a": "1"})
    ok(st == 401, f"{name}: a POST without a cookie is refused ({st})")
    st, _, body = request(port, "GET", "/", {"Cookie": cookie, "Remote-User": "mallory", "Remote-Groups": "admins"})
    ok(st == 200 and "Remote-User: alice;" in body and "mallory" not in body and "admins" not in body,
       f"{name}: client-sent Remote-* headers never reach the app")
    st, _, body = request(port, "GET", "/", {"Remote-User": "alice", "Accept": "application/json"})
    ok(st == 401, f"{name}: a client-sent Remote-User alone is refused ({st})")
    st, h, _ = request(port, "POST", "/logout", {"Cookie": cookie, "Origin": base})
    ok(st == 303 and h.get("location") == "/login" and "Max-Age=0" in h.get("set-cookie", ""),
       f"{name}: logout → 303 /login, cookie cleared")
    st, h, _ = request(port, "GET", "/docs/page", {"Cookie": cookie, "Accept": HTML})
    ok(st == 302 and "/login?rd=" in h.get("location", ""), f"{name}: the old cookie replayed by a browser → login ({st})")
    st, _, _ = request(port, "GET", "/docs/page", {"Cookie": cookie})
    ok(st == 401, f"{name}: the old cookie replayed by a script → 401 ({st})")
    # `jwtauth user disable` on the command line: the next request is refused.
    st, h, _ = request(port, "POST", "/login", body={"username": "alice", "password": PASSWORD})
    ok(st == 303, f"{name}: log in again")
    cookie = h["set-cookie"].split(";")[0]
    st, _, _ = request(port, "GET", "/", {"Cookie": cookie})
    ok(st == 200, f"{name}: the new cookie works")
    jwtauth(env, "user", "disable", "alice")
    st, _, _ = request(port, "GET", "/", {"Cookie": cookie})
    ok(st == 401, f"{name}: after `jwtauth user disable alice` the next request is refused ({st})")
    jwtauth(env, "user", "enable", "alice")
    st, _, _ = request(port, "GET", "/", {"Cookie": cookie})
    ok(st == 401, f"{name}: enabling does not bring the revoked session back ({st})")
    # A group-only part of the app (/admin/ asks for ?group=admins): the groups are the
    # token's, as the user had them when logging in; taking a group away revokes the session.
    st, h, _ = request(port, "POST", "/login", body={"username": "alice", "password": PASSWORD})
    cookie = h["set-cookie"].split(";")[0]
    st, _, _ = request(port, "GET", "/admin/x", {"Cookie": cookie})
    ok(st == 403, f"{name}: /admin/ is 403 for alice outside the admins group ({st})")
    jwtauth(env, "user", "set", "alice", "--add-group", "admins")
    st, _, _ = request(port, "GET", "/admin/x", {"Cookie": cookie})
    ok(st == 403, f"{name}: still 403 with the session made before the group was added ({st})")
    st, h, _ = request(port, "POST", "/login", body={"username": "alice", "password": PASSWORD})
    admin_cookie = h["set-cookie"].split(";")[0]
    st, _, body = request(port, "GET", "/admin/x", {"Cookie": admin_cookie})
    ok(st == 200 and "Remote-Groups: admins;" in body, f"{name}: a new login opens /admin/ with Remote-Groups: admins ({st})")
    jwtauth(env, "user", "set", "alice", "--remove-group", "admins")
    st, _, _ = request(port, "GET", "/admin/x", {"Cookie": admin_cookie})
    ok(st == 401, f"{name}: `jwtauth user set alice --remove-group admins` ends that session ({st})")


def browser(port, env):
    """Headless Chromium through nginx: log in, land on the app, log out, Back shows no app."""
    from playwright.sync_api import sync_playwright

    print(f"== Chromium through nginx on 127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}"
    profile = tempfile.mkdtemp(prefix="e2e-chromium-")
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync"]
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=args,
                viewport={"width": 800, "height": 600})
            try:
                page = ctx.pages[0] if ctx.pages else ctx.new_page()
                page.goto(f"{base}/docs/page?x=1")
                ok(page.url.startswith(f"{base}/login?rd="), f"browser: sent to the login page ({page.url})")
                ok(page.title() == "Sign in", "browser: the page is titled Sign in")
                os.makedirs(OUT, exist_ok=True)
                page.screenshot(path=os.path.join(OUT, "login.png"), full_page=True)
                page.get_by_label("Username").fill("alice")
                page.get_by_label("Password").fill("not-it")
                page.get_by_role("button", name="Sign in").click()
                ok(page.get_by_role("alert").inner_text() == "Incorrect username or password.",
                   "browser: a wrong password shows the one message")
                page.screenshot(path=os.path.join(OUT, "login-error.png"), full_page=True)
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(f"{base}/docs/page?x=1")
                ok("Remote-User: alice;" in page.content(), "browser: lands on the app as alice")
                cookies = [c for c in ctx.cookies() if c["name"] == "jwtauth_session"]
                ok(len(cookies) == 1 and cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Lax",
                   "browser: the session cookie is HttpOnly, SameSite=Lax")
                page.get_by_role("button", name="Sign out").click()
                page.wait_for_url(f"{base}/login")
                ok(not [c for c in ctx.cookies() if c["name"] == "jwtauth_session"], "browser: logout clears the cookie")
                page.go_back()
                page.wait_for_load_state()
                ok("Remote-User: alice" not in page.content() and page.url.startswith(f"{base}/login"),
                   f"browser: Back does not bring the app back ({page.url})")
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def account(port):
    """Two Chromium contexts (two browsers) through nginx: both sign in; the first opens the
    account page (screenshot), ends the other session from it, and the other browser is sent
    to the login page on its next request (SPEC §13)."""
    from playwright.sync_api import sync_playwright

    print(f"== Chromium: the account page through nginx on 127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}"
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync"]
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            here = chromium.new_context(viewport={"width": 900, "height": 700})
            there = chromium.new_context(viewport={"width": 900, "height": 700})
            page = here.new_page()
            page.goto(f"{base}/account")
            ok(page.url.startswith(f"{base}/login?rd=%2Faccount"),
               f"account: without a session, to the login page with rd=/account ({page.url})")
            page.get_by_label("Username").fill("alice")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/account")
            ok(page.title() == "Your sessions", "account: signed in, back on the account page")
            other = there.new_page()
            other.goto(f"{base}/docs/page?x=2")
            other.get_by_label("Username").fill("alice")
            other.get_by_label("Password").fill(PASSWORD)
            other.get_by_role("button", name="Sign in").click()
            other.wait_for_url(f"{base}/docs/page?x=2")
            ok("Remote-User: alice;" in other.content(), "account: the other browser is signed in to the app")
            page.reload()
            # The other browser's session, by the sid its cookie's token carries.
            token = next(c["value"] for c in there.cookies() if c["name"] == "jwtauth_session")
            payload = token.split(".")[1]
            sid = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"]
            items = page.locator("li.session")
            listed = items.count()
            ok(listed >= 2, f"account: both browsers' sessions listed ({listed})")
            current = page.locator("li.session.current")
            ok(current.count() == 1 and "this browser" in current.inner_text(),
               "account: this browser's session is marked")
            ok("Headless Chrome on Linux" in current.inner_text(), "account: the browser in a few words")
            theirs = page.locator("li.session", has=page.locator(f'input[name="end"][value="{sid}"]'))
            ok(theirs.count() == 1 and "this browser" not in theirs.inner_text(),
               "account: the other browser's session is listed, not marked")
            os.makedirs(OUT, exist_ok=True)
            page.screenshot(path=os.path.join(OUT, "account.png"), full_page=True)
            theirs.get_by_role("button", name="End this session").click()
            page.wait_for_url(f"{base}/account")
            ok(page.locator("li.session").count() == listed - 1
               and page.locator(f'input[name="end"][value="{sid}"]').count() == 0,
               "account: the other session is ended, this one kept")
            other.goto(f"{base}/docs/page?x=3")
            ok(other.url.startswith(f"{base}/login?rd="),
               f"account: the other browser's next request goes to the login page ({other.url})")
            ok("Remote-User" not in other.content(), "account: and not to the app")
            page.locator("li.session.current").get_by_role("button", name="Sign out").click()
            page.wait_for_url(f"{base}/login")
            ok(not [c for c in here.cookies() if c["name"] == "jwtauth_session"],
               "account: ending this browser's own session signs out")
            here.close()
            there.close()
        finally:
            chromium.close()


def main():
    work = tempfile.mkdtemp(prefix="jwtauth-e2e-")
    os.chmod(work, 0o755)  # nginx's workers (nobody) use temp dirs under it
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTAUTH_") and k != "JWT_SECRET_KEY"}
    env.update(HOME=f"{work}/home", XDG_DATA_HOME=f"{work}/home/data", XDG_CONFIG_HOME=f"{work}/home/config")
    os.makedirs(f"{work}/home/config/jwtauth")
    # Plain HTTP on loopback in this test, so the cookie cannot be Secure.
    with open(f"{work}/home/config/jwtauth/config.toml", "w") as f:
        f.write("[serve]\ncookie_secure = false\n")
    try:
        jwtauth(env, "-q", "init")
        jwtauth(env, "user", "add", "alice", "--full-name", "Alice Liddell", "--email", "alice@example.com",
                "--cost", "4", "--password-stdin", stdin=PASSWORD + "\n")

        log = open(f"{work}/serve.log", "w", buffering=1)
        serve = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0"], env=env,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        procs.append(("jwtauth", serve))
        addr = None
        for line in serve.stderr:
            log.write(line)
            m = re.match(r"jwtauth: listening on http://(\S+)", line)
            if m:
                addr = m.group(1)
                break
        if not addr:
            raise RuntimeError("jwtauth serve did not start")
        # Keep draining its log so it never blocks on a full pipe.
        import threading
        threading.Thread(target=lambda: [log.write(x) for x in serve.stderr], daemon=True).start()
        print(f"jwtauth serve on {addr}")

        app_port, nginx_port, caddy_port = free_port(), free_port(), free_port()
        ports = {"127.0.0.1:8080": addr, "127.0.0.1:3000": f"127.0.0.1:{app_port}"}

        # nginx: the example site plus a tiny app (nginx itself) that shows the headers it got.
        os.makedirs(f"{work}/nginx/logs")
        site = subst(open(os.path.join(ROOT, "examples", "nginx.conf")).read(),
                     {**ports, "listen 8000;": f"listen 127.0.0.1:{nginx_port};"})
        with open(f"{work}/nginx/site.conf", "w") as f:
            f.write(site)
        app_page = ("<!doctype html><html lang=en><title>App</title><main><h1>The app</h1>"
                    "<p id=who>Remote-User: $http_remote_user; Remote-Name: $http_remote_name; "
                    "Remote-Email: $http_remote_email; Remote-Groups: $http_remote_groups;</p>"
                    "<form method=post action=/logout><button>Sign out</button></form></main></html>")
        with open(f"{work}/nginx/nginx.conf", "w") as f:
            f.write(f"""daemon off;
worker_processes 1;
pid {work}/nginx/nginx.pid;
error_log {work}/nginx/logs/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {work}/nginx/logs/access.log;
    client_body_temp_path {work}/nginx/body;
    proxy_temp_path {work}/nginx/proxy;
    fastcgi_temp_path {work}/nginx/fastcgi;
    uwsgi_temp_path {work}/nginx/uwsgi;
    scgi_temp_path {work}/nginx/scgi;
    include {work}/nginx/site.conf;
    server {{
        listen 127.0.0.1:{app_port};
        location / {{
            default_type text/html;
            return 200 "{app_page}";
        }}
    }}
}}
""")
        nginx = subprocess.Popen(["nginx", "-p", f"{work}/nginx", "-c", f"{work}/nginx/nginx.conf"],
                                 stdin=subprocess.DEVNULL)
        procs.append(("nginx", nginx))
        wait_port(nginx_port, nginx, "nginx")
        wait_port(app_port, nginx, "nginx")
        check_proxy("nginx", nginx_port, env, True)

        if os.environ.get("E2E_SKIP_CADDY") != "1":
            site = subst(open(os.path.join(ROOT, "examples", "Caddyfile")).read(),
                         {**ports, ":8001 {": f"http://127.0.0.1:{caddy_port} {{"})
            with open(f"{work}/site.Caddyfile", "w") as f:
                f.write(site)
            with open(f"{work}/Caddyfile", "w") as f:
                f.write(f"{{\n\tadmin off\n\tauto_https off\n\tstorage file_system {work}/caddy\n}}\n"
                        f"import {work}/site.Caddyfile\n")
            caddy = subprocess.Popen(["caddy", "run", "--config", f"{work}/Caddyfile", "--adapter", "caddyfile"],
                                     env={**env, "XDG_DATA_HOME": f"{work}/caddy", "XDG_CONFIG_HOME": f"{work}/caddy"},
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(f"{work}/caddy.log", "w"))
            procs.append(("caddy", caddy))
            wait_port(caddy_port, caddy, "caddy")
            check_proxy("caddy", caddy_port, env, True)

        browser(nginx_port, env)
        account(nginx_port)
        print(f"== e2e passed: {checks} checks; screenshots in {OUT}/login.png and {OUT}/account.png")
    except BaseException:
        for name, f in [("serve.log", f"{work}/serve.log"), ("nginx error.log", f"{work}/nginx/logs/error.log"),
                        ("caddy.log", f"{work}/caddy.log")]:
            if os.path.exists(f):
                print(f"--- {name}", file=sys.stderr)
                print(open(f).read()[-4000:], file=sys.stderr)
        raise
    finally:
        for name, p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
