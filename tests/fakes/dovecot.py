"""A real IMAP server for the tests: Debian's dovecot, started on loopback in a temporary directory.

Configuration from ``reference/channels.md`` §5 (plaintext on loopback, a passwd-file of users,
maildirs under the directory). Dovecot drops privileges to its own users, so the tests run it as
root, as CI does; it is never a system service here.
"""

from __future__ import annotations

import imaplib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.fakes.callback_server import free_port

DOVECOT = "/usr/sbin/dovecot"

_CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/run/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
default_internal_user = dovecot
first_valid_uid = 100
default_login_user = dovenull
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


class Dovecot:
    """``Dovecot().start(users)``; ``append`` a mail; ``url(user)`` to poll it; ``stop()``.

    Its files live in a directory of its own under /tmp, readable by dovecot's unprivileged
    processes (pytest's ``tmp_path`` is private to root, so dovecot's auth could not read it).
    """

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="onethread-dovecot-"))
        self.root.chmod(0o755)
        self.port = free_port()
        self.passwords: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, users: dict[str, str]) -> Dovecot:
        if not Path(DOVECOT).exists():
            raise RuntimeError("dovecot is not installed: apt-get install dovecot-imapd (.ci/run does)")
        (self.root / "run").mkdir(parents=True, exist_ok=True)
        (self.root / "mail").mkdir(exist_ok=True)
        shutil.chown(self.root / "mail", "dovecot", "dovecot")
        self.passwords = dict(users)
        (self.root / "users").write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in users.items()))
        config = self.root / "dovecot.conf"
        config.write_text(_CONFIG.format(root=self.root, port=self.port))
        self._process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self._process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("dovecot did not listen within 15 s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, user: str, *, folder: str = "INBOX") -> str:
        return f"imap://{user.replace('@', '%40')}:{self.passwords[user]}@127.0.0.1:{self.port}/{folder}"

    def append(self, user: str, raw: bytes, *, folder: str = "INBOX") -> None:
        """Deliver a mail into the user's folder, as a mail server would."""
        client = imaplib.IMAP4("127.0.0.1", self.port)
        try:
            client.login(user, self.passwords[user])
            status, detail = client.append(folder, None, None, raw)
            if status != "OK":
                raise RuntimeError(f"APPEND failed: {detail!r}")
        finally:
            client.logout()

    def mark_seen_count(self, user: str, *, folder: str = "INBOX") -> int:
        """How many messages are flagged \\Seen (a poll must leave them unread)."""
        client = imaplib.IMAP4("127.0.0.1", self.port)
        try:
            client.login(user, self.passwords[user])
            client.select(folder, readonly=True)
            _, data = client.search(None, "SEEN")
            return len(data[0].split()) if data and data[0] else 0
        finally:
            client.logout()
