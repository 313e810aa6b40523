"""A Hugging Face Hub stand-in on 127.0.0.1 for tests: the endpoints huggingface_hub calls.

It serves model and Space repos held in memory (``{key: {"refs": {name: commit}, "commits": {commit:
{path: bytes}}}}``, the key being ``owner/name`` for a model and ``spaces/owner/name`` for a Space, as in
the Hub's URLs) with the same routes, headers and error codes as the Hub, so the real client code runs
unchanged against it (``HF_ENDPOINT=http://127.0.0.1:PORT``): repo creation, preupload, commits,
branches, repo info, file trees, downloads, Space variables (set, list, delete), and, with ``FakeHub(lfs=True)``, the Git
LFS batch API with uploads, the Hub's choice of LFS for binary files and its refusal of binary files
committed inline. (Xet storage needs a CAS server this does not emulate: tests that upload LFS files
set ``HF_HUB_DISABLE_XET`` so the client takes its LFS path.)
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

# What the Hub answers for a repo: /api/models|spaces|datasets/OWNER/NAME/...
API = re.compile(r"/api/(models|spaces|datasets)/([^/]+/[^/]+)(?:/(.*))?")
PREFIXES = {"models": "", "spaces": "spaces/", "datasets": "datasets/"}
# The .gitattributes the Hub puts in a new Space (abridged: the patterns that matter here)
SPACE_GITATTRIBUTES = b"".join(
    f"{p} filter=lfs diff=lfs merge=lfs -text\n".encode()
    for p in ("*.7z", "*.bin", "*.h5", "*.onnx", "*.pt", "*.safetensors", "*.tflite", "*.zip", "*.npy", "*.npz")
)
LFS_ABOVE = 10 * 1024 * 1024  # the Hub stores files above 10 MB with LFS whatever .gitattributes says


def repo_key(kind: str, repo_id: str) -> str:
    """``("models", "a/b") -> "a/b"``, ``("spaces", "a/b") -> "spaces/a/b"``: how ``FakeHub.repos`` is keyed."""
    return PREFIXES[kind] + repo_id


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_binary(sample: bytes) -> bool:
    return b"\0" in sample[:8000]  # git's own test


def lfs_patterns(files: dict[str, bytes]) -> list[str]:
    text = files.get(".gitattributes", b"").decode(errors="replace")
    return [line.split()[0] for line in text.splitlines() if "filter=lfs" in line and not line.startswith("#")]


def matches(path: str, patterns: list[str]) -> bool:
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(path if "/" in p else name, p) for p in patterns)


class FakeHub:
    def __init__(self, token: str | None = None, lfs: bool = False):
        self.repos: dict[str, dict] = {}
        self.requests: list[str] = []
        self.token = token  # write endpoints demand "Authorization: Bearer <token>" when set
        self.lfs = lfs  # binary files must go through LFS, as on the Hub (else every file goes inline)
        self.lfs_objects: dict[str, bytes] = {}  # sha256 -> content, uploaded through the LFS batch API
        self.commit_operations: list[list[dict]] = []  # each commit's operations, as sent (contents dropped)

    def add_commit(self, repo_id: str, files: dict[str, bytes], branch: str = "main") -> str:
        """Store ``files`` as a new commit on ``branch`` of repo ``repo_id`` (a key: "spaces/a/b" for a Space)."""
        repo = self.repos.setdefault(repo_id, {"refs": {}, "commits": {}, "private": False, "variables": {}})
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

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """The files of ``repo_id`` (a key) at ``revision``."""
        found = self.resolve(repo_id, revision)
        assert found is not None, f"{repo_id} has no revision {revision}"
        return found[1]

    def start(self) -> tuple[ThreadingHTTPServer, str]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_HEAD(self):
                self.handle_request(head=True)

            def do_GET(self):
                self.handle_request(head=False)

            def authorized(self) -> bool:
                if hub.token and self.headers.get("Authorization") != f"Bearer {hub.token}":
                    self.error(401, "Unauthorized", "Invalid credentials in Authorization header")
                    return False
                return True

            def do_PUT(self):  # LFS "basic" transfer: the content of one object, at the href the batch API gave
                path = unquote(urlparse(self.path).path)
                hub.requests.append(f"PUT {path}")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if m := re.fullmatch(r"/lfs-upload/([0-9a-f]{64})", path):
                    if hashlib.sha256(body).hexdigest() != m[1]:
                        return self.error(400, "BadRequest", "content does not match its oid")
                    hub.lfs_objects[m[1]] = body
                    return self.json({})
                self.error(404, "EntryNotFound", "no such route")

            def do_DELETE(self):  # Space variables: {"key": NAME}
                path = unquote(urlparse(self.path).path)
                hub.requests.append(f"DELETE {path}")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not self.authorized():
                    return
                m = API.fullmatch(path)
                if m and m[1] == "spaces" and m[3] == "variables" and (key := repo_key(m[1], m[2])) in hub.repos:
                    variables = hub.repos[key]["variables"]
                    variables.pop(json.loads(body)["key"], None)
                    return self.json(variables)
                self.error(404, "EntryNotFound", "no such route")

            def do_POST(self):
                path = unquote(urlparse(self.path).path)
                hub.requests.append(f"POST {path}")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not self.authorized():
                    return
                if path == "/api/validate-yaml":
                    return self.json({"errors": [], "warnings": []})
                if path == "/api/repos/create":
                    return self.create_repo(json.loads(body))
                if m := re.fullmatch(r"/(spaces/|datasets/)?([^/]+/[^/]+)\.git/info/lfs/objects/batch", path):
                    return self.lfs_batch(json.loads(body))
                if not (m := API.fullmatch(path)):
                    return self.error(404, "EntryNotFound", "no such route")
                key, rest = repo_key(m[1], m[2]), m[3] or ""
                if r := re.fullmatch(r"preupload/(.+)", rest):
                    return self.preupload(key, r[1], json.loads(body)["files"])
                if r := re.fullmatch(r"commit/(.+)", rest):
                    return self.commit(key, r[1], body)
                if r := re.fullmatch(r"branch/(.+)", rest):
                    return self.create_branch(key, r[1], json.loads(body or b"{}"))
                if r := re.fullmatch(r"tag/(.+)", rest):
                    return self.create_tag(key, r[1], json.loads(body))
                if rest == "variables" and m[1] == "spaces":
                    return self.add_variable(key, json.loads(body))
                self.error(404, "EntryNotFound", "no such route")

            def create_repo(self, payload: dict):
                kind = (payload.get("type") or "model") + "s"
                repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
                key = repo_key(kind, repo_id)
                url = f"http://{self.headers['Host']}/{key}"
                if key in hub.repos:  # the Hub's 409 still names the repo's url
                    return self.error(409, "RepoExists", f"You already created this {kind[:-1]} repo", url=url)
                if kind == "spaces":
                    if payload.get("sdk") not in ("gradio", "streamlit", "docker", "static"):
                        return self.error(400, "BadRequest", "sdk must be one of gradio, streamlit, docker, static")
                    readme = f"---\ntitle: {payload['name']}\nsdk: {payload['sdk']}\n---\n".encode()
                    hub.add_commit(key, {".gitattributes": SPACE_GITATTRIBUTES, "README.md": readme})
                    hub.repos[key]["sdk"] = payload["sdk"]
                else:
                    hub.add_commit(key, {".gitattributes": b"*.keras filter=lfs diff=lfs merge=lfs -text\n"})
                hub.repos[key]["private"] = payload.get("visibility") == "private" or bool(payload.get("private"))
                self.json({"url": url, "name": repo_id})

            def create_branch(self, key: str, branch: str, payload: dict):
                if key not in hub.repos:
                    return self.error(404, "RepoNotFound", f"Repository {key} not found")
                refs = hub.repos[key]["refs"]
                if branch in refs:
                    return self.error(409, "BranchExists", f"Branch {branch} already exists")
                refs[branch] = refs[payload.get("startingPoint") or "main"]
                self.json({})

            def create_tag(self, key: str, revision: str, payload: dict):
                """Refs hold branches and tags alike here: both resolve a revision to a commit."""
                if (found := self.lookup(key, revision)) is None:
                    return None
                refs = hub.repos[key]["refs"]
                if payload["tag"] in refs:
                    return self.error(409, "TagExists", f"Tag {payload['tag']} already exists")
                refs[payload["tag"]] = found[0]
                self.json({})

            def add_variable(self, key: str, payload: dict):
                if key not in hub.repos:
                    return self.error(404, "RepoNotFound", f"Repository {key} not found")
                variables = hub.repos[key]["variables"]
                variables[payload["key"]] = {"value": payload["value"], "description": payload.get("description"),
                                             "updatedAt": "2025-01-01T00:00:00.000Z"}
                self.json(variables)

            def preupload(self, key: str, revision: str, files: list[dict]):
                if not (found := self.lookup(key, revision)):
                    return
                current = found[1]
                patterns = lfs_patterns(current)
                answer = []
                for f in files:
                    lfs = hub.lfs and (f["size"] > LFS_ABOVE or matches(f["path"], patterns)
                                       or is_binary(base64.b64decode(f["sample"])))
                    item = {"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False}
                    if hub.lfs and f["path"] in current:  # lets the client leave unchanged files out of the commit
                        old = current[f["path"]]
                        item["oid"] = hashlib.sha256(old).hexdigest() if lfs else git_blob_sha1(old)
                    answer.append(item)
                self.json({"files": answer})

            def lfs_batch(self, payload: dict):
                host = self.headers["Host"]
                objects = []
                for obj in payload["objects"]:
                    entry = {"oid": obj["oid"], "size": obj["size"]}
                    if obj["oid"] not in hub.lfs_objects:  # no "actions": the Hub has it already
                        entry["actions"] = {"upload": {"href": f"http://{host}/lfs-upload/{obj['oid']}"}}
                    objects.append(entry)
                self.json({"transfer": "basic", "objects": objects})

            def commit(self, key: str, revision: str, body: bytes):
                if key not in hub.repos:
                    return self.error(404, "RepoNotFound", f"Repository {key} not found")
                found = hub.resolve(key, revision)
                if found is None:
                    return self.error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                files = dict(found[1])
                operations = []
                for line in body.decode().splitlines():
                    item = json.loads(line)
                    value = item["value"]
                    operations.append({"key": item["key"], **{k: v for k, v in value.items() if k != "content"}})
                    if item["key"] == "file":
                        content = base64.b64decode(value["content"])
                        if hub.lfs and is_binary(content):
                            return self.error(400, "BadRequest", f"Your push was rejected because it contains binary "
                                              f"files ({value['path']}). Please use Xet or LFS to store binary files.")
                        files[value["path"]] = content
                    elif item["key"] == "lfsFile":
                        if value["oid"] not in hub.lfs_objects:
                            return self.error(400, "BadRequest", f"LFS object {value['oid']} was never uploaded")
                        files[value["path"]] = hub.lfs_objects[value["oid"]]
                    elif item["key"] == "deletedFile":
                        files.pop(value["path"], None)
                    elif item["key"] == "deletedFolder":
                        prefix = value["path"].rstrip("/") + "/"
                        files = {p: d for p, d in files.items() if not p.startswith(prefix)}
                    elif item["key"] != "header":
                        return self.error(400, "BadRequest", f"unsupported commit operation {item['key']}")
                hub.commit_operations.append(operations)
                commit = hub.add_commit(key, files, branch=revision)
                self.json({"commitUrl": f"http://{self.headers['Host']}/{key}/commit/{commit}",
                           "commitOid": commit, "pullRequestUrl": None, "success": True})

            def handle_request(self, head: bool):
                path = unquote(urlparse(self.path).path)
                hub.requests.append(f"{self.command} {path}")
                if m := API.fullmatch(path):
                    key, rest = repo_key(m[1], m[2]), m[3] or ""
                    if r := re.fullmatch(r"revision/(.+)", rest):
                        return self.repo_info(key, m[2], r[1])
                    if rest == "":
                        return self.repo_info(key, m[2], "main")
                    if r := re.fullmatch(r"tree/([^/]+)(/.*)?", rest):
                        return self.tree(key, r[1], (r[2] or "").strip("/"))
                    if rest == "variables" and m[1] == "spaces" and key in hub.repos:
                        return self.json(hub.repos[key]["variables"])
                if m := re.fullmatch(r"/(spaces/|datasets/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path):
                    return self.file((m[1] or "") + m[2], m[3], m[4], head)
                self.error(404, "EntryNotFound", "no such route")

            def lookup(self, key: str, revision: str):
                if key not in hub.repos:
                    self.error(404, "RepoNotFound", f"Repository {key} not found")
                    return None
                found = hub.resolve(key, revision)
                if found is None:
                    self.error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                return found

            def repo_info(self, key: str, repo_id: str, revision: str):
                if found := self.lookup(key, revision):
                    commit, files = found
                    info = {"id": repo_id, "sha": commit, "siblings": [{"rfilename": p} for p in sorted(files)],
                            "private": hub.repos[key]["private"]}
                    if key.startswith("spaces/"):
                        info["sdk"] = hub.repos[key].get("sdk")
                    else:
                        info["modelId"] = repo_id
                    self.json(info)

            def tree(self, key: str, revision: str, folder: str):
                if found := self.lookup(key, revision):
                    _, files = found
                    entries = []
                    for p, data in sorted(files.items()):
                        if folder and not p.startswith(folder + "/"):
                            continue
                        entry = {"type": "file", "path": p, "size": len(data), "oid": git_blob_sha1(data)}
                        sha256 = hashlib.sha256(data).hexdigest()
                        if sha256 in hub.lfs_objects:
                            entry["lfs"] = {"oid": sha256, "size": len(data), "pointerSize": 134}
                        entries.append(entry)
                    self.json(entries)

            def file(self, key: str, revision: str, filename: str, head: bool):
                if not (found := self.lookup(key, revision)):
                    return
                commit, files = found
                if filename not in files:
                    return self.error(404, "EntryNotFound", f"{filename} not in {key}@{revision}")
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
