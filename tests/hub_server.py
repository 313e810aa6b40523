"""A Hugging Face Hub stand-in on 127.0.0.1 for tests: the read endpoints huggingface_hub calls.

It serves model repos held in memory (``{repo_id: {"refs": {name: commit}, "commits": {commit: {path:
bytes}}}}``) with the same routes, headers and error codes as the Hub, so the real client code runs
unchanged against it (``HF_ENDPOINT=http://127.0.0.1:PORT``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse


class FakeHub:
    def __init__(self, token: str | None = None):
        self.repos: dict[str, dict] = {}
        self.requests: list[str] = []
        self.token = token  # write endpoints demand "Authorization: Bearer <token>" when set

    def add_commit(self, repo_id: str, files: dict[str, bytes], branch: str = "main") -> str:
        """Store ``files`` as a new commit on ``branch`` and return its 40-hex sha."""
        repo = self.repos.setdefault(repo_id, {"refs": {}, "commits": {}, "private": False})
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

            def do_POST(self):
                path = unquote(urlparse(self.path).path)
                hub.requests.append(f"POST {path}")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if hub.token and self.headers.get("Authorization") != f"Bearer {hub.token}":
                    return self.error(401, "Unauthorized", "Invalid credentials in Authorization header")
                if path == "/api/validate-yaml":
                    return self.json({"errors": [], "warnings": []})
                if path == "/api/repos/create":
                    return self.create_repo(json.loads(body))
                if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/preupload/(.+)", path):
                    files = json.loads(body)["files"]
                    # small test files: every one goes inline in the commit, as the Hub does for non-LFS files
                    return self.json({"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]})
                if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/commit/(.+)", path):
                    return self.commit(m[1], m[2], body)
                if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/branch/(.+)", path):
                    return self.create_branch(m[1], m[2], json.loads(body or b"{}"))
                self.error(404, "EntryNotFound", "no such route")

            def create_repo(self, payload: dict):
                repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
                if repo_id in hub.repos:  # the Hub's 409 still names the repo's url
                    return self.error(409, "RepoExists", "You already created this model repo",
                                      url=f"http://{self.headers['Host']}/{repo_id}")
                hub.add_commit(repo_id, {".gitattributes": b"*.keras filter=lfs diff=lfs merge=lfs -text\n"})
                hub.repos[repo_id]["private"] = payload.get("visibility") == "private" or bool(payload.get("private"))
                self.json({"url": f"http://{self.headers['Host']}/{repo_id}", "name": repo_id})

            def create_branch(self, repo_id: str, branch: str, payload: dict):
                if repo_id not in hub.repos:
                    return self.error(404, "RepoNotFound", f"Repository {repo_id} not found")
                refs = hub.repos[repo_id]["refs"]
                if branch in refs:
                    return self.error(409, "BranchExists", f"Branch {branch} already exists")
                refs[branch] = refs[payload.get("startingPoint") or "main"]
                self.json({})

            def commit(self, repo_id: str, revision: str, body: bytes):
                if repo_id not in hub.repos:
                    return self.error(404, "RepoNotFound", f"Repository {repo_id} not found")
                found = hub.resolve(repo_id, revision)
                if found is None:
                    return self.error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                files = dict(found[1])
                for line in body.decode().splitlines():
                    item = json.loads(line)
                    if item["key"] == "file":
                        files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                    elif item["key"] == "deletedFile":
                        files.pop(item["value"]["path"], None)
                    elif item["key"] != "header":
                        return self.error(400, "BadRequest", f"unsupported commit operation {item['key']}")
                commit = hub.add_commit(repo_id, files, branch=revision)
                self.json({"commitUrl": f"http://{self.headers['Host']}/{repo_id}/commit/{commit}",
                           "commitOid": commit, "pullRequestUrl": None, "success": True})

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

            def error(self, status: int, code: str, message: str, **extra):
                body = json.dumps({"error": message, **extra}).encode()
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
