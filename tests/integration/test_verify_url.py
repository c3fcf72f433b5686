"""`nox -s verify -- --url` against deployed stacks, over real HTTP, with no engine asked: two prod builds
(the second changes the backend only) run side by side as two compose projects; a round-robin balancer over
both; a build of an uncommitted edit; and every way an address can fail to give build info."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from python_on_whales import docker

from ci.stack.live import free_port
from tests.conftest import Project, junit_results

# first_pass: verify --url reads a deployment over HTTP from Python, whichever plugins made the stack (the
# other tests build and start it on both), so CI's second pass leaves it out (time).
pytestmark = [pytest.mark.integration, pytest.mark.first_pass]

NAME = "mainzatest-url"
OLD = f"{NAME}-old"  # the compose project running the first build
NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}  # proof that no engine is asked
SECRET = "Bearer s3cr3t-t0ken-value"


@dataclass
class Deployed:
    project: Project
    old_commit: str
    new_commit: str
    old_url: str
    new_url: str

    def verify(self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Outcome:
        run = self.project.ci("verify", *args, env={**NO_ENGINE, **(env or {})}, cwd=cwd)
        reports = Path((env or {}).get("REPORTS_DIR", self.project.reports))
        data = json.loads((reports / "verify.json").read_text()) if (reports / "verify.json").is_file() else {}
        return Outcome(run, data)


@dataclass
class Outcome:
    run: subprocess.CompletedProcess[str]
    data: dict[str, object]

    @property
    def code(self) -> int:
        return self.run.returncode

    @property
    def text(self) -> str:
        return self.run.stdout + self.run.stderr

    def verdict(self, service: str) -> dict[str, object]:
        deployment = self.data["deployment"]
        assert isinstance(deployment, dict)
        [found] = [s for s in deployment["services"] if s["service"] == service]
        assert isinstance(found, dict)
        return found


def compose(project: str, tag: str, ports: tuple[int, int], root: Path, *args: str) -> None:
    env = {**os.environ, "TAG": tag, "BACKEND_PORT": str(ports[0]), "FRONTEND_PORT": str(ports[1])}
    env.pop("COMPOSE_PROJECT_NAME", None)
    cmd = ["docker", "compose", "-p", project, "-f", str(root / "compose.yaml"), *args]
    subprocess.run(cmd, cwd=root, env=env, check=True, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def deployed(make_project: Callable[[str], Project]) -> Iterator[Deployed]:
    project = make_project(NAME)
    assert project.ci("prod").returncode == 0
    old = _head(project)
    for service in ("backend", "frontend"):
        docker.image.tag(f"{NAME}-{service}:{old}", f"{OLD}-{service}:{old}")
    old_ports = (free_port(), free_port())
    try:
        compose(OLD, old, old_ports, project.root, "up", "--detach", "--wait")
        main = project.root / "backend" / "main.py"
        main.write_text(main.read_text().replace('"status": "healthy",', '"status": "healthy",  # the second build'))
        new = project.commit("backend: the second build")
        assert project.ci("prod").returncode == 0
        assert project.ci("verify", "--up").returncode == 0
        yield Deployed(project, old, new, f"http://127.0.0.1:{old_ports[1]}", project.frontend_url)
    finally:
        compose(OLD, old, old_ports, project.root, "down", "--remove-orphans")
        for service in ("backend", "frontend"):
            docker.image.remove(f"{OLD}-{service}:{old}", force=True)


def _head(project: Project) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short=7", "HEAD"], cwd=project.root, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_the_new_stack_runs_the_commit_and_no_engine_is_asked(deployed: Deployed) -> None:
    out = deployed.verify("--url", deployed.new_url)
    assert out.code == 0, out.text
    assert f"verify: {deployed.new_url} runs {deployed.new_commit}: backend, frontend" in out.run.stdout
    assert junit_results(deployed.project.reports / "junit-verify.xml") == {
        "services": "passed",
        "backend build info": "passed",
        "backend commit": "passed",
        "frontend build info": "passed",
        "frontend commit": "passed",
    }
    assert list(out.verdict("backend")["answers"].values()) == [5]  # type: ignore[union-attr]


def test_the_old_stack_is_behind_by_one_commit_for_the_backend_only_naming_it_and_its_file(deployed: Deployed) -> None:
    out = deployed.verify("--url", deployed.old_url)
    assert out.code == 1
    backend, frontend = out.verdict("backend"), out.verdict("frontend")
    assert backend["word"] == "behind" and backend["behind"] == 1
    assert backend["commits"] == [f"{deployed.new_commit} backend: the second build"]
    assert backend["files"] == ["modified backend/main.py"]
    assert frontend["word"] == "runs", frontend
    last = out.run.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"error: {deployed.old_url} runs {deployed.new_commit}: frontend; backend behind by 1 commit"
    )
    # The old stack is what the first commit is: compared with it, both run it.
    assert deployed.verify("--url", deployed.old_url, "--commit", deployed.old_commit).code == 0


class Balancer:
    """A round-robin HTTP balancer over upstream stacks, each request to the next one."""

    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = list(upstreams)
        self.turn = 0
        lock = threading.Lock()
        balancer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with lock:
                    upstream = balancer.upstreams[balancer.turn % len(balancer.upstreams)]
                    balancer.turn += 1
                answer = requests.get(upstream + self.path, timeout=5)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "text/plain"))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_balancer_over_old_and_new_is_mixed_with_counts_then_converges_under_wait(deployed: Deployed) -> None:
    balancer = Balancer([deployed.old_url, deployed.new_url])
    try:
        out = deployed.verify("--url", balancer.url, "--samples", "4")
        assert out.code == 1
        backend = out.verdict("backend")
        assert backend["word"] == "mixed"
        assert sorted(backend["answers"].values()) == [2, 2]  # type: ignore[union-attr]
        assert out.verdict("frontend")["word"] == "runs"  # both stacks serve the same frontend build
        assert "backend mixed (2 + 2 answers)" in out.run.stderr

        def finish_rollout() -> None:
            time.sleep(3)
            balancer.upstreams = [deployed.new_url]

        threading.Thread(target=finish_rollout, daemon=True).start()
        waited = deployed.verify("--url", balancer.url, "--wait", "20s")
        assert waited.code == 0, waited.text
        assert "waiting (" in waited.run.stdout and "backend mixed" in waited.run.stdout
    finally:
        balancer.close()


# --- addresses that give no build info ---------------------------------------------------------------


class Fake(BaseHTTPRequestHandler):
    """/MODE/...: answers as MODE says."""

    def do_GET(self) -> None:
        mode = self.path.split("/")[1]
        if mode == "slow":
            time.sleep(5)
            return
        status, body, kind, extra = {
            "missing": (404, "<html><title>404 Not Found</title></html>", "text/html", {}),
            "login": (200, "<!doctype html><html><title>Sign in</title><form>", "text/html", {}),
            "redirect": (302, "", "text/plain", {"Location": "https://sso.example.com/login?next=/"}),
            "broken": (200, '{"source_digest": "sha256:1", ', "application/json", {}),
            "echo": (401, f"denied: {self.headers.get('Authorization')}", "text/plain", {}),
        }[mode]
        self.send_response(status)
        self.send_header("Content-Type", kind)
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def fake() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize(
    ("mode", "word", "says"),
    [
        ("closed", "unreachable", "connection refused"),
        ("slow", "unreachable", "no answer within 3s"),
        ("missing", "no build info", "HTTP 404: an HTML page ('404 Not Found')"),
        ("login", "no build info", "an HTML page ('Sign in') where build info was expected"),
        ("redirect", "no build info", "HTTP 302 redirect to https://sso.example.com/login?next=/ (a login page?)"),
        ("broken", "no build info", "invalid JSON"),
    ],
)
def test_an_address_without_build_info_says_why_in_one_line(
    deployed: Deployed, fake: str, mode: str, word: str, says: str
) -> None:
    url = f"http://127.0.0.1:{free_port()}" if mode == "closed" else f"{fake}/{mode}"
    out = deployed.verify("--url", url)
    assert out.code == 1
    assert "Traceback" not in out.text
    backend = out.verdict("backend")
    assert backend["word"] == word and says in str(backend["detail"]), backend
    assert junit_results(deployed.project.reports / "junit-verify.xml")["backend commit"] == "skipped"
    [last] = [line for line in out.run.stderr.splitlines() if line.startswith("error: ")]
    assert f"backend {word}" in last


def test_a_header_from_the_environment_is_sent_and_in_no_output_noxs_echo_included(
    deployed: Deployed, fake: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERIFY_AUTHORIZATION", SECRET)
    args = ("--url", f"backend={fake}/echo/", "--url", deployed.new_url)
    echoed = deployed.verify(*args, "--header-env", "Authorization=VERIFY_AUTHORIZATION")
    assert echoed.code == 1
    assert "denied: ***" in str(echoed.verdict("backend")["detail"])  # sent: the fake echoes it back
    passed = deployed.project.nox(
        "-s", "verify", "--", "--url", deployed.new_url, "--header-env", "Authorization=VERIFY_AUTHORIZATION",
        "--header", f"X-Typed: {SECRET}",  # typed on the command line: nox's echo holds it no more
    )  # fmt: skip
    assert passed.returncode == 0, passed.stderr[-2000:]
    assert "--header-env Authorization=VERIFY_AUTHORIZATION" in passed.stderr  # nox's echo: the name only
    assert "--header-env X-Typed=MAINZA_HEADER_1" in passed.stderr
    for text in (
        echoed.text,
        passed.stdout,
        passed.stderr,
        *(p.read_text() for p in deployed.project.reports.glob("*verify*")),
    ):
        assert "s3cr3t" not in text


def test_no_service_checked_fails_naming_the_label_to_add(deployed: Deployed) -> None:
    # A deploy job must never go green having checked nothing: no service declares public build info.
    unlabelled = deployed.project.edited(
        "compose.yaml", lambda text: text.replace("mainza.verify.build-info.public", "x-mainzatest.unused")
    )
    with unlabelled:
        out = deployed.verify("--url", deployed.new_url)
    assert out.code == 1 and "Traceback" not in out.text
    [last] = [line for line in out.run.stderr.splitlines() if line.startswith("error: ")]
    assert "no service checked: backend, frontend declare no public build info" in last, last
    assert "mainza.verify.build-info.public" in last, last


def test_header_values_are_sent_but_never_printed_or_written(deployed: Deployed, fake: str) -> None:
    passed = deployed.verify("--url", deployed.new_url, "--header", f"Authorization: {SECRET}")
    assert passed.code == 0
    echoed = deployed.verify(
        "--url", f"backend={fake}/echo/", "--url", deployed.new_url, "--header", f"Authorization: {SECRET}"
    )
    assert echoed.code == 1
    assert "denied: ***" in str(echoed.verdict("backend")["detail"])
    for text in (passed.text, echoed.text, *(p.read_text() for p in deployed.project.reports.glob("*verify*"))):
        assert "s3cr3t" not in text


def test_a_self_signed_server_fails_clearly_and_passes_with_its_ca_in_requests_ca_bundle(
    deployed: Deployed, tmp_path: Path
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    upstream = deployed.new_url

    class Proxy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer = requests.get(upstream + self.path, timeout=5)
            self.send_response(answer.status_code)
            self.end_headers()
            self.wfile.write(answer.content)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}"
        refused = deployed.verify("--url", url)
        assert refused.code == 1
        assert "TLS error: certificate verify failed" in str(refused.verdict("backend")["detail"])
        assert "REQUESTS_CA_BUNDLE" in str(refused.verdict("backend")["detail"])
        trusted = deployed.verify("--url", url, env={"REQUESTS_CA_BUNDLE": str(cert)})
        assert trusted.code == 0, trusted.text
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--commit", "no-such-ref"), "--commit 'no-such-ref' names no commit"),
        (("--samples", "0"), "--samples 0: ask each address at least once"),
        (("--url", "staging.example.com"), "is not an http(s) URL with a host"),
        (("--url", "nosuch=http://127.0.0.1:1"), "no service 'nosuch'"),
        (("--wait", "soon"), "--wait 'soon' is not a duration"),
        (("--tree", "--commit", "HEAD"), "--tree and --commit: give one"),
    ],
)
def test_bad_arguments_exit_2_before_any_request(
    deployed: Deployed, fake: str, args: tuple[str, ...], says: str
) -> None:
    url = () if any(a.startswith("--url") for a in args) else ("--url", f"{fake}/echo")
    out = deployed.verify(*url, *args)
    assert out.code == 2, out.text
    assert says in out.run.stderr
    assert "Traceback" not in out.text


def test_a_shallow_clone_says_equal_or_not_and_that_its_history_is_too_short(
    deployed: Deployed, tmp_path: Path
) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{deployed.project.root}", str(clone)], check=True)
    env = {"REPORTS_DIR": str(clone / "reports")}
    assert deployed.verify("--url", deployed.new_url, env=env, cwd=clone).code == 0
    out = deployed.verify("--url", deployed.old_url, env=env, cwd=clone)
    assert out.code == 1
    backend = out.verdict("backend")
    assert backend["word"] == "not a commit"
    assert "shallow: its history is too short to count commits" in str(backend["detail"])


def test_at_the_local_stack_it_agrees_with_the_container_based_verify(deployed: Deployed) -> None:
    assert deployed.project.ci("verify").returncode == 0
    assert deployed.verify("--url", deployed.project.frontend_url, "--tree").code == 0
    with deployed.project.edited("backend/main.py", lambda text: text + "\n# edited, not rebuilt\n"):
        local = deployed.project.ci("verify")
        tree = deployed.verify("--url", deployed.project.frontend_url, "--tree")
    assert local.returncode == 1 and tree.code == 1
    assert junit_results(deployed.project.reports / "junit-verify.xml")["frontend commit"] == "passed"
    assert "backend source fingerprint failed" in " ".join(local.stdout.split())
    backend = tree.verdict("backend")
    assert backend["word"] == "behind" and "the working tree's uncommitted changes" in str(backend["detail"])
    assert backend["files"] == ["modified backend/main.py"]


def test_no_docker_client_is_one_line_naming_what_it_reads(deployed: Deployed, tmp_path: Path) -> None:
    (tmp_path / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    out = deployed.verify("--url", deployed.new_url, env={"PATH": str(tmp_path)})
    assert out.code == 1 and "Traceback" not in out.text
    assert out.run.stderr.strip().splitlines()[-1].startswith("error: the docker client is not installed")


def test_a_build_of_an_uncommitted_edit_is_not_a_commit_of_the_history_showing_its_dirty_label(
    deployed: Deployed,
) -> None:
    with deployed.project.edited("backend/main.py", lambda text: text + "\n# an edit never committed\n"):
        assert deployed.project.ci("dev").returncode == 0
        out = deployed.verify("--url", deployed.new_url)
        tree = deployed.verify("--url", deployed.new_url, "--tree")
    assert out.code == 1
    backend = out.verdict("backend")
    assert backend["word"] == "not a commit"
    assert f"it claims commit {deployed.new_commit}-dirty" in str(backend["detail"])
    assert out.verdict("frontend")["word"] == "runs"
    assert tree.code == 0, tree.text  # what runs is the working tree


def test_a_commit_changing_only_a_file_named_with_a_quote_puts_the_deployment_behind(
    deployed: Deployed, tmp_path: Path
) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", f"file://{deployed.project.root}", str(clone)], check=True)
    name = 'backend/say "hi".py'  # git quotes it in `git log --name-only` without -z
    (clone / name).write_text("print('not deployed')\n")
    for args in (("config", "user.email", "t@localhost"), ("config", "user.name", "t"), ("add", "-A")):
        subprocess.run(["git", *args], cwd=clone, check=True)
    subprocess.run(["git", "commit", "-qm", "a quoted name alone"], cwd=clone, check=True)
    quoted = subprocess.run(["git", "rev-parse", "--short=7", "HEAD"], cwd=clone, capture_output=True, text=True)
    env = {"REPORTS_DIR": str(clone / "reports")}
    # The old stack: the one no other test rebuilds. Its backend lacks both commits, the quoted one too.
    out = deployed.verify("--url", deployed.old_url, env=env, cwd=clone)
    assert out.code == 1, out.text
    backend, frontend = out.verdict("backend"), out.verdict("frontend")
    assert (backend["word"], backend["behind"], frontend["word"]) == ("behind", 2, "runs"), backend
    assert backend["commits"] == [
        f"{quoted.stdout.strip()} a quoted name alone",
        f"{deployed.new_commit} backend: the second build",
    ]
    assert backend["files"] == ["modified backend/main.py", f"added {name}"]
    written = tmp_path / "written-by-git"
    refused = deployed.verify("--url", deployed.old_url, f"--commit=--output={written}", env=env, cwd=clone)
    assert refused.code == 2 and "names no commit" in refused.run.stderr, refused.text
    assert not list(tmp_path.glob("written-by-git*"))
