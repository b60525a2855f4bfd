"""deploy/nginx.conf: valid, and in front of the real stack it exposes only the public paths."""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RASA_TOKEN, ROOT, Stack, free_port, wait_until

CONF = ROOT / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def local_config(tmp: Path, port: int, rasa_port: int = 5005, desk_port: int = 8000) -> Path:
    """The shipped config with this machine's paths: a test certificate, files in `tmp`,
    one unprivileged port on loopback and the stack's ports upstream."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=kefu.example.com", "-keyout", tmp / "key.pem", "-out", tmp / "cert.pem"],
        check=True,
        capture_output=True,
    )
    text = CONF.read_text(encoding="utf-8")
    text = re.sub(r"/etc/letsencrypt/\S+/fullchain\.pem", str(tmp / "cert.pem"), text)
    text = re.sub(r"/etc/letsencrypt/\S+/privkey\.pem", str(tmp / "key.pem"), text)
    text = re.sub(r"/var/log/nginx/", f"{tmp}/", text)
    text = re.sub(r"pid /run/\S+;", f"pid {tmp}/nginx.pid;", text)
    text = text.replace("server 127.0.0.1:5005;", f"server 127.0.0.1:{rasa_port};")
    text = text.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{desk_port};")
    text = re.sub(r"listen \[::\]:\d+[^;]*;", "", text)
    text = text.replace("listen 80;", f"listen 127.0.0.1:{free_port()};")
    text = text.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;")
    path = tmp / "nginx.conf"
    path.write_text(text, encoding="utf-8")
    return path


def test_config_syntax(tmp_path: Path) -> None:
    conf = local_config(tmp_path, free_port())
    done = subprocess.run(
        [NGINX, "-t", "-c", str(conf), "-p", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


@pytest.fixture
def proxy(stack: Stack, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    rasa_port = int(stack.rasa_url.rsplit(":", 1)[1])
    desk_port = int(stack.desk_url.rsplit(":", 1)[1])
    conf = local_config(tmp_path, port, rasa_port, desk_port)
    proc = subprocess.Popen(
        [NGINX, "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"https://127.0.0.1:{port}"
    try:
        wait_until(lambda: status(url + "/") == 200, 15, "nginx", [proc])
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def status(url: str, method: str = "GET", data: bytes | None = None) -> int:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test's self-signed certificate
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.mark.stack
def test_only_public_paths_pass_the_proxy(proxy: str) -> None:
    public = {
        "/": 200,
        "/vendor/socket.io.min.js": 200,
        "/socket.io/?EIO=4&transport=polling": 200,
        "/console/login": 200,
    }
    for path, code in public.items():
        assert status(proxy + path) == code, path
    # Twilio's webhooks are reached (and refuse an unsigned request themselves): inbound SMS
    # on Rasa, delivery status on the desk (Rasa has no such route: it would answer 404).
    assert status(proxy + "/webhooks/sms/webhook", "POST", b"From=%2B8613800138000") in (400, 403)
    assert status(proxy + "/webhooks/sms/status?id=OB0123456789ab", "POST", b"MessageSid=x") == 403
    private = [
        f"/conversations/x/tracker?token={RASA_TOKEN}",
        f"/status?token={RASA_TOKEN}",
        "/version",
        "/webhooks/rest/webhook",
        "/webhooks/sms/",
        "/api/tickets",
        "/api/sms/outbox",
        "/api/openapi.json",
        "/healthz",
    ]
    for path in private:
        assert status(proxy + path) == 404, path
    assert status(proxy + "/webhooks/sms/webhook", "GET") == 403
