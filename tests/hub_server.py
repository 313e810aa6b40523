"""A Hugging Face Hub stand-in on 127.0.0.1 for tests: the read endpoints huggingface_hub calls.

It serves model repos held in memory (``{repo_id: {"refs": {name: commit}, "commits": {commit: {path:
bytes}}}}``) with the same routes, headers and error codes as the Hub, so the real client code runs
unchanged against it (``HF_ENDPOINT=http://127.0.0.1:PORT``).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse


class FakeHub:
    def __init__(self):
        self.repos: dict[str, dict] = {}
        self.requests: list[str] = []

    def add_commit(self, repo_id: str, files: dict[str, bytes], branch: str = "main") -> str:
        """Store ``files`` as a new commit on ``branch`` and return its 40-hex sha."""
        repo = self.repos.setdefault(repo_id, {"refs": {}, "commits": {}})
        digest = hashlib.sha1(repr(sorted((k, hashlib.sha256(v).hexdigest()) for k, v in files.items())).encode())
        digest.update(str(len(repo["commits"])).encode())
        commit = digest.hexdigest()
        repo["commits"][commit] = dict(files)
        repo["refs"][branch] = commit
        return commit

    def resolve(self, repo_id: str, revision: str) -> tuple[str, dict[str, bytes]] | None:
        repo = self.repos[repo_id]
        commit = repo["refs"].get(revision, revision)
        files = repo["commits"].get(commit)
        return (commit, files) if files is not None else None

    def start(self) -> tuple[ThreadingHTTPServer, str]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_HEAD(self):
                self.handle_request(head=True)

            def do_GET(self):
                self.handle_request(head=False)

            def handle_request(self, head: bool):
                path = unquote(urlparse(self.path).path)
                hub.requests.append(f"{self.command} {path}")
                if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/revision/(.+)", path):
                    return self.repo_info(m[1], m[2])
                if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)(/.*)?", path):
                    return self.tree(m[1], m[2])
                if m := re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path):
                    return self.file(m[1], m[2], m[3], head)
                self.error(404, "EntryNotFound", "no such route")

            def lookup(self, repo_id: str, revision: str):
                if repo_id not in hub.repos:
                    self.error(404, "RepoNotFound", f"Repository {repo_id} not found")
                    return None
                found = hub.resolve(repo_id, revision)
                if found is None:
                    self.error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                return found

            def repo_info(self, repo_id: str, revision: str):
                if found := self.lookup(repo_id, revision):
                    commit, files = found
                    self.json({"id": repo_id, "modelId": repo_id, "sha": commit,
                               "siblings": [{"rfilename": p} for p in sorted(files)], "private": False})

            def tree(self, repo_id: str, revision: str):
                if found := self.lookup(repo_id, revision):
                    _, files = found
                    self.json([
                        {"type": "file", "path": p, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                        for p, data in sorted(files.items())
                    ])

            def file(self, repo_id: str, revision: str, filename: str, head: bool):
                if not (found := self.lookup(repo_id, revision)):
                    return
                commit, files = found
                if filename not in files:
                    return self.error(404, "EntryNotFound", f"{filename} not in {repo_id}@{revision}")
                data = files[filename]
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Repo-Commit", commit)
                self.end_headers()
                if not head:
                    self.wfile.write(data)

            def json(self, payload):
                body = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def error(self, status: int, code: str, message: str):
                body = json.dumps({"error": message}).encode()
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", message)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}"
