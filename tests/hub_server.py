"""A small in-memory Hugging Face Hub for the test suite, spoken to over real HTTP on 127.0.0.1.

The stock `huggingface_hub` client (2.4.x, with Xet disabled) and diffusers' `push_to_hub` / `from_pretrained` talk to
it unmodified. Everything lives in memory (repos -> branches/tags -> commits -> {path: bytes}) behind one lock.
Repo ids must be `namespace/name`. Model, dataset and space repos share the same code.

Endpoints (`{api}` = `/api/{models|datasets|spaces}/{namespace}/{name}`, `{git}` = `/[datasets/|spaces/]{ns}/{name}`):

    GET    /api/whoami-v2                      whoami()
    GET    /api/agent-harnesses                user-agent building (empty registry, fetched once per process)
    POST   /api/repos/create                   create_repo() (409 if it exists; `private` kept)
    DELETE /api/repos/delete                   delete_repo()
    POST   /api/validate-yaml                  ModelCard.validate() / .push_to_hub(), create_commit() of a README.md
    GET    {api} and {api}/revision/{rev}      model_info() / repo_info(), snapshot_download(), resolve_revision(),
                                               DiffusionPipeline.download()
    GET    {api}/tree/{rev}[/{path}]           list_repo_tree() / list_repo_files() / snapshot_download()
                                               (`recursive`, `expand`, Link-header pagination, see `tree_page_size`)
    POST   {api}/paths-info/{rev}              get_paths_info()
    GET    {api}/refs                          list_repo_refs()
    GET    {api}/commits/{rev}                 list_repo_commits()
    POST   {api}/branch/{branch}               create_branch() (409 if it exists; optional `startingPoint`)
    DELETE {api}/branch/{branch}               delete_branch()
    POST   {api}/tag/{rev}                     create_tag()
    POST   {api}/preupload/{rev}               create_commit() / upload_*(): "lfs" or "regular" per file, remote oid
    POST   {git}.git/info/lfs/objects/batch    LFS batch API, basic transfer (stored objects come back without actions)
    PUT    /lfs-upload/{upload_id}             the "pre-signed" upload href of a batch answer (no auth, like S3);
                                               checks size and sha256
    POST   {git}.git/info/lfs/objects/verify   LFS verify step
    POST   {api}/commit/{rev}                  NDJSON commit: header, file (base64), lfsFile, deletedFile, deletedFolder
    GET    {git}/resolve/{rev}/{path}          hf_hub_download(), snapshot_download() (Range supported)
    HEAD   {git}/resolve/{rev}/{path}          get_hf_file_metadata(): X-Repo-Commit, ETag (git blob sha1, or the
                                               sha256 of LFS files, also in X-Linked-Etag with X-Linked-Size),
                                               Content-Length

Errors carry the headers `hf_raise_for_status` maps to typed errors: `X-Error-Code: RepoNotFound | RevisionNotFound |
EntryNotFound` (404; or 401 for a private repo read without the token), and `X-Error-Message`. Write endpoints
without the right `Authorization: Bearer <token>` get 401 "Invalid credentials in Authorization header". The token
never appears in the log. A new repo gets an "initial commit" with a `.gitattributes`, as on the Hub.

Test helpers: `fail_next(kind, status, times)` for fault injection, `requests` / `request_count` / `log_lines` /
`unhandled` to see what the client sent, `commits()` and `stored_files()` for assertions.

HOW TESTS GET THE SERVER. `huggingface_hub` reads `HF_ENDPOINT` when it is imported, so the port is chosen first:

    PORT = pick_free_port()
    os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{PORT}"     # before anything imports huggingface_hub
    os.environ["HF_HUB_DISABLE_XET"] = "1"

then a session fixture runs `LocalHub(PORT)` and a function fixture calls `connect_client(hub, monkeypatch, tmp)`,
which turns offline mode off (the suite runs with HF_HUB_OFFLINE=1), disables Xet, sets the token and a fresh
cache folder for that test only (see tests/test_hub_server.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import sys
import threading
import time
import traceback
import uuid
from datetime import datetime, timezone
from fnmatch import fnmatch
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import yaml

HUB_TOKEN = "hf_test_token"
LFS_SUFFIXES = (
    ".safetensors",
    ".bin",
    ".pt",
    ".pth",
    ".ckpt",
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".webp",
    ".npy",
    ".npz",
    ".pkl",
    ".h5",
    ".onnx",
    ".msgpack",
    ".zip",
    ".tar",
    ".gz",
    ".parquet",
    ".arrow",
)
LFS_MIN_SIZE = 10 * 1024 * 1024  # bigger regular files go to LFS too
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
YAML_BLOCK = re.compile(r"^(\s*---[\r\n]+)([\S\s]*?)([\r\n]+---(\r\n|\n|$))")  # same as huggingface_hub.repocard
# card metadata keys whose type the server checks (a small subset of the Hub's schema)
CARD_STRING_KEYS = ("license", "library_name", "pipeline_tag")
CARD_STRING_OR_LIST_KEYS = ("tags", "datasets", "metrics", "language", "base_model")

_API = r"/api/(?P<type>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)"
_GIT = r"/(?:(?P<type>datasets|spaces)/)?(?P<repo>[^/]+/[^/]+?)"
_REV = r"(?P<rev>[^/]+)"
# method, path regex (matched on the raw, still-quoted path), handler name, fault-injection kind, needs the token
ROUTES = [
    ("GET", r"/api/whoami-v2", "whoami", "whoami", True),
    ("GET", r"/api/agent-harnesses", "agent_harnesses", "agent_harnesses", False),
    ("POST", r"/api/repos/create", "create_repo", "create_repo", True),
    ("DELETE", r"/api/repos/delete", "delete_repo", "delete_repo", True),
    ("POST", r"/api/validate-yaml", "validate_yaml", "validate_yaml", False),
    ("GET", _API + rf"(?:/revision/{_REV})?", "repo_info", "repo_info", False),
    ("GET", _API + rf"/tree/{_REV}(?:/(?P<path>.*))?", "tree", "tree", False),
    ("POST", _API + rf"/paths-info/{_REV}", "paths_info", "paths_info", False),
    ("GET", _API + r"/refs", "refs", "refs", False),
    ("GET", _API + rf"/commits/{_REV}", "list_commits", "commits", False),
    ("POST", _API + r"/branch/(?P<branch>[^/]+)", "create_branch", "create_branch", True),
    ("DELETE", _API + r"/branch/(?P<branch>[^/]+)", "delete_branch", "delete_branch", True),
    ("POST", _API + rf"/tag/{_REV}", "create_tag", "create_tag", True),
    ("POST", _API + rf"/preupload/{_REV}", "preupload", "preupload", True),
    ("POST", _API + rf"/commit/{_REV}", "commit", "commit", True),
    ("POST", _GIT + r"\.git/info/lfs/objects/batch", "lfs_batch", "lfs_batch", True),
    ("PUT", r"/lfs-upload/(?P<upload_id>[0-9a-f]{32})", "lfs_upload", "lfs_upload", False),
    ("POST", _GIT + r"\.git/info/lfs/objects/verify", "lfs_verify", "lfs_verify", True),
    ("GET", _GIT + rf"/resolve/{_REV}/(?P<path>.+)", "resolve", "resolve", False),
    ("HEAD", _GIT + rf"/resolve/{_REV}/(?P<path>.+)", "resolve", "resolve", False),
]
FAULT_KINDS = sorted({kind for *_, kind, _ in ROUTES})


def pick_free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (pick it before huggingface_hub is imported)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_from_endpoint(endpoint: str) -> int:
    """The port of an `http://127.0.0.1:PORT` endpoint; ValueError for anything LocalHub cannot serve."""
    parts = urlsplit(endpoint)
    if parts.scheme != "http" or parts.hostname != "127.0.0.1" or parts.port is None:
        raise ValueError(f"HF_ENDPOINT={endpoint!r} is not a local http://127.0.0.1:PORT endpoint")
    return parts.port


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(oid: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


def _now() -> str:
    now = datetime.now(timezone.utc)  # noqa: UP017 - Python 3.10 has no datetime.UTC
    return now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class HubError(Exception):
    """An error answer: status, message and the `X-Error-Code` the client maps to a typed error."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict | None = None,
        payload: dict | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}
        self.payload = payload or {"error": message}


class LocalHub:
    """In-memory Hub on http://127.0.0.1:{port}; use as a context manager or with start() / stop()."""

    def __init__(
        self, port: int, token: str = HUB_TOKEN, user: str = "tester", orgs=(), verbose: bool = True, log_stream=None
    ):
        self.port, self.token, self.user, self.orgs = port, token, user, tuple(orgs)
        self.verbose, self.log_stream = verbose, log_stream  # log_stream None: sys.stderr at write time
        self.tree_page_size = 1000  # entries per /tree page, lower it to exercise pagination
        self.repos: dict[tuple[str, str], dict] = {}  # (repo_type, repo_id) -> repo dict, see _new_repo
        self.requests: list[dict] = []  # {"method", "path", "kind", "status"} of every request
        self.log_lines: list[str] = []
        self.unhandled: list[str] = []  # "METHOD /path" of requests no route matched
        self._faults: dict[str, list] = {}  # kind -> [status, times left, message]
        self._uploads: dict[str, tuple] = {}  # LFS upload id -> (repo key, oid, size)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._counter = 0

    # ---------------------------------------------------------------- life cycle and test helpers
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalHub:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        self._server.daemon_threads = True  # idle keep-alive connections must not block stop()
        self._server.hub = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"LocalHub:{self.port}", daemon=True
        )
        self._thread.start()
        self._log(f"listening on {self.url}")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None
            self._log("stopped")

    def __enter__(self) -> LocalHub:  # noqa: PYI034
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def fail_next(self, kind: str, status: int = 500, times: int = 1, message: str | None = None) -> None:
        """The next `times` requests of `kind` (e.g. "lfs_upload", "commit", "preupload") answer `status`.

        Beware: the client retries 408, 429, 500, 502, 503 and 504 on most calls (up to 5 times, sleeping 1, 2, 4,
        8, 8 s), so a single 500 is usually invisible; use e.g. 403 or 400 to make a call fail for good.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown kind {kind!r}; one of {FAULT_KINDS}")
        with self._lock:
            self._faults[kind] = [status, times, message or f"Injected failure ({status}) for {kind}"]

    def clear_faults(self) -> None:
        """Disarm every pending `fail_next`."""
        with self._lock:
            self._faults.clear()

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def commits(self, repo_id: str, branch: str = "main", repo_type: str = "model") -> list[dict]:
        """History of `branch`, newest first: [{"sha", "summary", "description", "parents", "date", "files"}]."""
        with self._lock:
            repo = self.repos[(repo_type, repo_id)]
            sha, history = repo["branches"][branch], []
            while sha is not None:
                c = repo["commits"][sha]
                history.append(
                    {k: c[k] for k in ("sha", "summary", "description", "parents", "date")}
                    | {"files": sorted(c["files"])}
                )
                sha = c["parents"][0] if c["parents"] else None
            return history

    def stored_files(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> dict[str, dict]:
        """{path: {"size", "lfs": sha256 or None, "blob_id"}} at `revision`, as stored by the server."""
        with self._lock:
            repo = self.repos[(repo_type, repo_id)]
            files = repo["commits"][self._resolve(repo, revision)]["files"]
            return {p: {"size": len(e["data"]), "lfs": e["lfs"], "blob_id": self._blob_id(e)} for p, e in files.items()}

    # ---------------------------------------------------------------- HTTP plumbing
    def _log(self, line: str) -> None:
        line = re.sub(r"(?i)(bearer\s+)\S+", r"\1***", line.replace(self.token, "***"))
        with self._lock:
            self.log_lines.append(line)
        if self.verbose:
            print(f"[LocalHub] {line}", file=self.log_stream or sys.stderr, flush=True)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        """Answer one request: route it, check auth and injected faults, run the endpoint, send the reply."""
        split = urlsplit(h.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        kind, status = None, 500
        try:
            body = self._read_body(h)
            for method, pattern, name, route_kind, needs_token in ROUTES:  # noqa: B007  (used after the loop)
                match = re.fullmatch(pattern, split.path)
                if method == h.command and match:
                    kind = route_kind
                    break
            else:
                with self._lock:
                    self.unhandled.append(f"{h.command} {split.path}")
                raise HubError(404, f"LocalHub does not implement {h.command} {split.path}")
            args = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
            if "type" in args or "repo" in args:
                args["type"] = REPO_TYPES.get(args.get("type", "models"), args.get("type"))
            auth = h.headers.get("Authorization", "")
            sent_token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
            if sent_token is not None and sent_token != self.token:
                raise HubError(401, "Invalid credentials in Authorization header")
            if needs_token and sent_token is None:
                raise HubError(401, "Invalid credentials in Authorization header")
            with self._lock:
                fault = self._faults.get(kind)
                if fault:
                    fault[1] -= 1
                    if fault[1] <= 0:
                        del self._faults[kind]
                    raise HubError(fault[0], fault[2])
            request = {
                "query": query,
                "body": body,
                "headers": h.headers,
                "authorized": sent_token is not None,
                "head": h.command == "HEAD",
                "raw_path": split.path,
            }
            status, headers, payload = getattr(self, "_ep_" + name)(request, **args)
        except HubError as e:
            status, payload = e.status, e.payload
            headers = {"X-Error-Message": e.message, **({"X-Error-Code": e.code} if e.code else {}), **e.headers}
        except Exception as e:  # noqa: BLE001 - a bug here, or a request it did not expect: answer 500, say why
            status, headers, payload = 500, {"X-Error-Message": f"LocalHub internal error: {e!r}"}, {"error": repr(e)}
            self._log(f"internal error on {h.command} {split.path}:\n{traceback.format_exc()}")
        with self._lock:  # recorded and logged before the answer leaves, so the client never sees it first
            self.requests.append({"method": h.command, "path": split.path, "kind": kind, "status": status})
        extra = f" ({' '.join(str(headers.get('X-Error-Message')).split())})" if status >= 400 else ""
        self._log(f"{h.command} {split.path} -> {status}{extra}")
        self._send(h, status, headers, payload)

    @staticmethod
    def _read_body(h: BaseHTTPRequestHandler) -> bytes:
        if "chunked" in h.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while h.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(h.rfile.read(size))
                h.rfile.readline()
        return h.rfile.read(int(h.headers.get("Content-Length") or 0))

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, headers: dict, payload) -> None:
        if isinstance(payload, bytes):
            data = payload
        else:
            data = json.dumps(payload, default=str).encode()
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        headers.setdefault("Content-Length", str(len(data)))
        h.send_response(status)
        for key, value in headers.items():  # header values must be one line of latin-1: fold error messages
            h.send_header(key, " ".join(str(value).split()).encode("ascii", "replace").decode()[:1000])
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)

    @staticmethod
    def _json(request) -> dict:
        try:
            return json.loads(request["body"] or b"{}")
        except json.JSONDecodeError as e:
            raise HubError(400, f"Invalid JSON body: {e}") from e

    # ---------------------------------------------------------------- repository state
    def _new_repo(self, repo_type: str, repo_id: str, private: bool) -> dict:
        attributes = "".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n" for s in LFS_SUFFIXES).encode()
        repo = {
            "type": repo_type,
            "id": repo_id,
            "private": private,
            "created": _now(),
            "branches": {},
            "tags": {},
            "commits": {},
            "lfs": {},
        }
        first = self._make_commit(repo, None, {".gitattributes": {"data": attributes, "lfs": None}}, "initial commit")
        repo["branches"]["main"] = first
        return repo

    def _make_commit(self, repo: dict, parent: str | None, files: dict, summary: str, description: str = "") -> str:
        self._counter += 1
        tree = sorted((p, self._blob_id(e)) for p, e in files.items())
        sha = hashlib.sha1(json.dumps([parent, summary, tree, self._counter, time.time_ns()]).encode()).hexdigest()
        repo["commits"][sha] = {
            "sha": sha,
            "parents": [parent] if parent else [],
            "summary": summary,
            "description": description,
            "date": _now(),
            "files": files,
        }
        return sha

    @staticmethod
    def _blob_id(entry: dict) -> str:
        data = lfs_pointer(entry["lfs"], len(entry["data"])) if entry["lfs"] else entry["data"]
        return git_blob_sha1(data)

    def _repo(self, request, type: str, repo: str) -> dict:
        found = self.repos.get((type, repo))
        if found is None or (found["private"] and not request["authorized"]):
            # the Hub answers 401 for private repos read anonymously, 404 otherwise; both map to RepositoryNotFoundError
            status = 401 if found is not None else 404
            raise HubError(status, "Repository not found", code="RepoNotFound")
        return found

    @staticmethod
    def _resolve(repo: dict, rev: str) -> str:
        """Commit sha of a branch, a tag, a full sha or an unambiguous sha prefix (7+ hex digits)."""
        if rev in repo["branches"]:
            return repo["branches"][rev]
        if rev in repo["tags"]:
            return repo["tags"][rev]
        if rev.startswith("refs/heads/") and rev[11:] in repo["branches"]:
            return repo["branches"][rev[11:]]
        if re.fullmatch(r"[0-9a-f]{7,40}", rev):
            candidates = [sha for sha in repo["commits"] if sha.startswith(rev)]
            if len(candidates) == 1:
                return candidates[0]
        raise HubError(404, f"Invalid rev id: {rev}", code="RevisionNotFound")

    def _entries(self, repo: dict, sha: str, prefix: str, recursive: bool, expand: bool) -> list[dict]:
        """Tree entries (files and directories) under `prefix` at commit `sha`, sorted by path."""
        files = repo["commits"][sha]["files"]
        base = prefix.strip("/") + "/" if prefix.strip("/") else ""
        dirs, out = {}, []
        for path in sorted(files):
            if not path.startswith(base):
                continue
            parts = path[len(base) :].split("/")
            for depth in range(1, len(parts)):
                if depth > 1 and not recursive:
                    break
                d = base + "/".join(parts[:depth])
                dirs.setdefault(d, []).append(path)
            if len(parts) == 1 or recursive:
                out.append(self._file_entry(repo, sha, path, expand))
        for d, members in dirs.items():
            oid = hashlib.sha1("".join(p + self._blob_id(files[p]) for p in sorted(members)).encode()).hexdigest()
            entry = {"type": "directory", "oid": oid, "size": 0, "path": d}
            if expand:
                entry["lastCommit"] = self._last_commit(repo, sha, members)
            out.append(entry)
        if base and not out:
            raise HubError(404, f"{prefix} does not exist at this revision", code="EntryNotFound")
        return sorted(out, key=lambda e: e["path"])

    def _file_entry(self, repo: dict, sha: str, path: str, expand: bool = False) -> dict:
        e = repo["commits"][sha]["files"][path]
        entry = {"type": "file", "oid": self._blob_id(e), "size": len(e["data"]), "path": path}
        if e["lfs"]:
            pointer = lfs_pointer(e["lfs"], len(e["data"]))
            entry["lfs"] = {"oid": e["lfs"], "size": len(e["data"]), "pointerSize": len(pointer)}
        if expand:
            entry["lastCommit"] = self._last_commit(repo, sha, [path])
        return entry

    @staticmethod
    def _last_commit(repo: dict, sha: str, paths: list[str]) -> dict:
        """The newest commit (walking first parents from `sha`) that changed any of `paths`."""
        commit = repo["commits"][sha]
        while commit["parents"]:
            parent = repo["commits"][commit["parents"][0]]
            if any(commit["files"].get(p) is not parent["files"].get(p) for p in paths):
                break
            commit = parent
        return {"id": commit["sha"], "title": commit["summary"], "date": commit["date"]}

    @staticmethod
    def _card_data(files: dict) -> dict | None:
        readme = files.get("README.md")
        match = YAML_BLOCK.search(readme["data"].decode("utf-8", "replace")) if readme else None
        try:
            data = yaml.safe_load(match.group(2)) if match else None
        except yaml.YAMLError:
            return None
        return data if isinstance(data, dict) else None

    # ---------------------------------------------------------------- endpoints: (status, headers, payload)
    def _ep_whoami(self, request):
        orgs = [{"type": "org", "name": o, "fullname": o, "roleInOrg": "admin"} for o in self.orgs]
        token_info = {"type": "access_token", "accessToken": {"displayName": "test token", "role": "write"}}
        return (
            200,
            {},
            {
                "type": "user",
                "id": uuid.uuid5(uuid.NAMESPACE_DNS, self.user).hex,
                "name": self.user,
                "fullname": self.user,
                "email": f"{self.user}@localhost",
                "emailVerified": True,
                "canPay": False,
                "isPro": False,
                "periodEnd": None,
                "orgs": orgs,
                "auth": token_info,
            },
        )

    def _ep_agent_harnesses(self, request):
        return 200, {}, {"standardEnvVars": [], "harnesses": {}}

    def _ep_create_repo(self, request):
        body = self._json(request)
        repo_type = body.get("type") or "model"
        namespace, name = body.get("organization") or self.user, body.get("name")
        if repo_type not in URL_PREFIX or not name:
            raise HubError(400, f"Invalid repo type or name: {repo_type!r}, {name!r}")
        if namespace not in (self.user, *self.orgs):
            raise HubError(403, f"You don't have the rights to create a {repo_type} under the namespace {namespace!r}")
        repo_id = f"{namespace}/{name}"
        url = f"{self.url}/{URL_PREFIX[repo_type]}{repo_id}"
        with self._lock:
            if (repo_type, repo_id) in self.repos:
                message = f"You already created this {repo_type} repo: {repo_id}"
                raise HubError(409, message, payload={"error": message, "url": url})  # create_repo(exist_ok) reads url
            private = body.get("visibility", "public") == "private" or bool(body.get("private"))
            self.repos[(repo_type, repo_id)] = self._new_repo(repo_type, repo_id, private)
        return 200, {}, {"url": url, "name": repo_id, "id": repo_id}

    def _ep_delete_repo(self, request):
        body = self._json(request)
        key = (body.get("type") or "model", f"{body.get('organization') or self.user}/{body.get('name')}")
        with self._lock:
            if key not in self.repos:
                raise HubError(404, "Repository not found", code="RepoNotFound")
            del self.repos[key]
        return 200, {}, {}

    def _ep_validate_yaml(self, request):
        content = self._json(request).get("content") or ""
        match = YAML_BLOCK.search(content)
        if match is None:
            return 200, {}, {"errors": [], "warnings": [{"message": "empty or missing yaml metadata in repo card"}]}
        errors = []
        try:
            data = yaml.safe_load(match.group(2))
        except yaml.YAMLError as e:
            errors.append(f"Invalid YAML in the metadata block: {e}")
        else:
            data = {} if data is None else data
            if not isinstance(data, dict):
                errors.append("The metadata block must be a mapping (key: value pairs)")
            else:
                for key in CARD_STRING_KEYS:
                    if key in data and not isinstance(data[key], str):
                        errors.append(f"{key} must be a string, not {type(data[key]).__name__}")
                for key in CARD_STRING_OR_LIST_KEYS:
                    value = data.get(key, "")
                    value = value if isinstance(value, list) else [value]
                    if not all(isinstance(v, str) for v in value):
                        errors.append(f"{key} must be a string or a list of strings")
        if errors:  # listed the way the Hub's validate-yaml does
            raise HubError(400, "; ".join(errors), payload={"errors": [{"message": m} for m in errors]})
        return 200, {}, {"errors": [], "warnings": []}

    def _ep_repo_info(self, request, type, repo, rev="main"):
        with self._lock:
            r = self._repo(request, type, repo)
            sha = self._resolve(r, rev)
            commit = r["commits"][sha]
            files = commit["files"]
            card = self._card_data(files)
            blobs = request["query"].get("blobs", "").lower() in ("1", "true")
            siblings = []
            for path in sorted(files):
                sibling = {"rfilename": path}
                if blobs:
                    entry = self._file_entry(r, sha, path)
                    sibling |= {"size": entry["size"], "blobId": entry["oid"]}
                    if "lfs" in entry:
                        sibling["lfs"] = {
                            "size": entry["size"],
                            "sha256": entry["lfs"]["oid"],
                            "pointerSize": entry["lfs"]["pointerSize"],
                        }
                siblings.append(sibling)
            card_data = card or {}
            library = card_data.get("library_name") or ("diffusers" if "model_index.json" in files else None)
            card_tags = card_data.get("tags") or []
            card_tags = [card_tags] if isinstance(card_tags, str) else card_tags
            license_ = card_data.get("license")
            tags = [
                *card_tags,
                library,
                "safetensors" if any(p.endswith(".safetensors") for p in files) else None,
                f"license:{license_}" if isinstance(license_, str) else None,
                "region:us",
            ]
            info = {
                "_id": hashlib.sha1(repo.encode()).hexdigest()[:24],
                "id": repo,
                "author": repo.split("/")[0],
                "sha": sha,
                "lastModified": commit["date"],
                "createdAt": r["created"],
                "private": r["private"],
                "gated": False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "tags": list(dict.fromkeys(str(t) for t in tags if t)),
                "siblings": siblings,
                "spaces": [],
                "usedStorage": sum(len(e["data"]) for e in files.values()),
            }
            if type == "model":
                info |= {"modelId": repo, "library_name": library, "pipeline_tag": card_data.get("pipeline_tag")}
            if card is not None:
                info["cardData"] = card
        return 200, {}, info

    def _ep_tree(self, request, type, repo, rev, path=""):
        q = request["query"]
        recursive = q.get("recursive", "").lower() in ("1", "true")
        expand = q.get("expand", "").lower() in ("1", "true")
        with self._lock:
            r = self._repo(request, type, repo)
            sha = self._resolve(r, rev)
            entries = self._entries(r, sha, path, recursive, expand)
        start = int(q.get("cursor") or 0)
        page_size = max(1, self.tree_page_size)
        headers = {}
        if start + page_size < len(entries):  # GitHub-style Link header, followed as-is by `_paginate_pages`
            next_query = urlencode({**q, "cursor": start + page_size})
            headers["Link"] = f'<{self.url}{request["raw_path"]}?{next_query}>; rel="next"'
        return 200, headers, entries[start : start + page_size]

    def _ep_paths_info(self, request, type, repo, rev):
        content_type = request["headers"].get("Content-Type", "")
        if "json" in content_type:
            form = self._json(request)
            paths, expand = form.get("paths", []), bool(form.get("expand"))
        else:
            form = parse_qs(request["body"].decode())
            paths, expand = form.get("paths", []), form.get("expand", ["false"])[-1].lower() in ("1", "true")
        with self._lock:
            r = self._repo(request, type, repo)
            sha = self._resolve(r, rev)
            files, out = r["commits"][sha]["files"], []
            for p in paths:
                p = p.strip("/")
                if p in files:
                    out.append(self._file_entry(r, sha, p, expand))
                elif any(f.startswith(p + "/") for f in files):
                    parent = p.rsplit("/", 1)[0] if "/" in p else ""
                    out += [e for e in self._entries(r, sha, parent, False, expand) if e["path"] == p]
        return 200, {}, out

    def _ep_refs(self, request, type, repo):
        with self._lock:
            r = self._repo(request, type, repo)
            branches = [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": s} for b, s in r["branches"].items()]
            tags = [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": s} for t, s in r["tags"].items()]
        return 200, {}, {"branches": branches, "tags": tags, "converts": [], "pullRequests": []}

    def _ep_list_commits(self, request, type, repo, rev):
        with self._lock:
            r = self._repo(request, type, repo)
            sha, out = self._resolve(r, rev), []
            while sha:
                c = r["commits"][sha]
                out.append(
                    {
                        "id": sha,
                        "title": c["summary"],
                        "message": c["description"],
                        "date": c["date"],
                        "authors": [{"user": self.user, "avatar": None}],
                    }
                )
                sha = c["parents"][0] if c["parents"] else None
        return 200, {}, out

    def _ep_create_branch(self, request, type, repo, branch):
        start = self._json(request).get("startingPoint")
        with self._lock:
            r = self._repo(request, type, repo)
            if branch in r["branches"]:
                raise HubError(409, f"Reference refs/heads/{branch} already exists")
            r["branches"][branch] = self._resolve(r, start or "main")
        return 200, {}, {}

    def _ep_delete_branch(self, request, type, repo, branch):
        with self._lock:
            r = self._repo(request, type, repo)
            if branch not in r["branches"] or branch == "main":
                raise HubError(
                    404 if branch != "main" else 403,
                    f"Cannot delete branch {branch}",
                    code="RevisionNotFound" if branch != "main" else None,
                )
            del r["branches"][branch]
        return 200, {}, {}

    def _ep_create_tag(self, request, type, repo, rev):
        tag = self._json(request).get("tag")
        with self._lock:
            r = self._repo(request, type, repo)
            if not tag or tag in r["tags"]:
                raise HubError(409, f"Tag {tag} already exists or is invalid")
            r["tags"][tag] = self._resolve(r, rev)
        return 200, {}, {}

    def _ep_preupload(self, request, type, repo, rev):
        if request["query"].get("create_pr"):
            raise HubError(501, "LocalHub does not support pull requests (create_pr=True)")
        body = self._json(request)
        with self._lock:
            r = self._repo(request, type, repo)
            if rev not in r["branches"]:
                raise HubError(404, f"Invalid rev id: {rev}", code="RevisionNotFound")
            current = r["commits"][r["branches"][rev]]["files"]
            ignore = body.get("gitIgnore")
            if ignore is None and ".gitignore" in current:
                ignore = current[".gitignore"]["data"].decode("utf-8", "replace")
        patterns = [line.strip() for line in (ignore or "").splitlines() if line.strip() and not line.startswith("#")]
        out = []
        for f in body.get("files", []):
            path, size = f["path"], int(f.get("size") or 0)
            lfs = path.lower().endswith(LFS_SUFFIXES) or size > LFS_MIN_SIZE
            remote = current.get(path)
            oid = None if remote is None else (remote["lfs"] or git_blob_sha1(remote["data"]))
            ignored = any(fnmatch(path, p) or fnmatch(path.rsplit("/", 1)[-1], p) for p in patterns)
            out.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": ignored, "oid": oid})
        return 200, {}, {"files": out, "commitOid": r["branches"][rev]}

    def _ep_lfs_batch(self, request, type, repo):
        body = self._json(request)
        if body.get("operation") != "upload":
            raise HubError(400, f"LocalHub only supports LFS uploads, not {body.get('operation')!r}")
        git_url = f"{self.url}/{URL_PREFIX[type]}{repo}.git/info/lfs/objects"
        objects = []
        with self._lock:
            r = self._repo(request, type, repo)
            for obj in body.get("objects", []):
                oid, size = obj.get("oid"), obj.get("size")
                if not (isinstance(oid, str) and re.fullmatch(r"[0-9a-f]{64}", oid) and isinstance(size, int)):
                    objects.append(
                        {
                            "oid": str(oid),
                            "size": size if isinstance(size, int) else 0,
                            "error": {"code": 422, "message": "Invalid oid or size"},
                        }
                    )
                elif oid in r["lfs"] and len(r["lfs"][oid]) == size:
                    objects.append({"oid": oid, "size": size})  # already stored: nothing to upload
                else:
                    upload_id = uuid.uuid4().hex
                    self._uploads[upload_id] = ((type, repo), oid, size)
                    objects.append(
                        {
                            "oid": oid,
                            "size": size,
                            "authenticated": True,
                            "actions": {
                                "upload": {"href": f"{self.url}/lfs-upload/{upload_id}", "expires_in": 3600},
                                "verify": {"href": f"{git_url}/verify", "header": {}},
                            },
                        }
                    )
        return 200, {"Content-Type": "application/vnd.git-lfs+json"}, {"transfer": "basic", "objects": objects}

    def _ep_lfs_upload(self, request, upload_id):
        data = request["body"]
        with self._lock:
            if upload_id not in self._uploads:
                raise HubError(403, "Unknown or expired upload URL")
            key, oid, size = self._uploads[upload_id]
            if len(data) != size or hashlib.sha256(data).hexdigest() != oid:
                raise HubError(
                    400,
                    f"Uploaded content does not match oid/size: got {len(data)} bytes, sha256 "
                    f"{hashlib.sha256(data).hexdigest()}; expected {size} bytes, {oid}",
                )
            if key not in self.repos:
                raise HubError(404, "Repository not found", code="RepoNotFound")
            self.repos[key]["lfs"][oid] = data
            del self._uploads[upload_id]
        return 200, {"ETag": f'"{hashlib.md5(data).hexdigest()}"'}, b""

    def _ep_lfs_verify(self, request, type, repo):
        body = self._json(request)
        with self._lock:
            stored = self._repo(request, type, repo)["lfs"].get(body.get("oid"))
        if stored is None or len(stored) != body.get("size"):
            raise HubError(404, f"LFS object {body.get('oid')} not found (or wrong size)")
        return 200, {}, {"success": True}

    def _ep_commit(self, request, type, repo, rev):
        if request["query"].get("create_pr"):
            raise HubError(501, "LocalHub does not support pull requests (create_pr=True)")
        try:
            lines = [json.loads(line) for line in request["body"].decode().splitlines() if line.strip()]
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise HubError(400, f"Invalid NDJSON commit payload: {e}") from e
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The commit payload must start with a header line")
        header = lines[0]["value"]
        with self._lock:
            r = self._repo(request, type, repo)
            if rev not in r["branches"]:
                raise HubError(404, f"Invalid rev id: {rev} (commits go to a branch)", code="RevisionNotFound")
            head = r["branches"][rev]
            parent = header.get("parentCommit")
            if parent and not head.startswith(parent):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(r["commits"][head]["files"])
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value") or {}
                path = value.get("path", "").strip("/")
                if key == "file":
                    content = value.get("content", "")
                    data = base64.b64decode(content) if value.get("encoding") == "base64" else content.encode()
                    files[path] = {"data": data, "lfs": None}
                elif key == "lfsFile":
                    oid = value.get("oid")
                    if oid not in r["lfs"]:
                        raise HubError(400, f"LFS pointer for {path} points to an object that was not uploaded: {oid}")
                    files[path] = {"data": r["lfs"][oid], "lfs": oid}
                elif key == "deletedFile":
                    if files.pop(path, None) is None:
                        raise HubError(404, f"A file with this name doesn't exist: {path}", code="EntryNotFound")
                elif key == "deletedFolder":
                    doomed = [p for p in files if p.startswith(path + "/")]
                    if not doomed:
                        raise HubError(404, f"A folder with this name doesn't exist: {path}", code="EntryNotFound")
                    for p in doomed:
                        del files[p]
                else:
                    raise HubError(400, f"Unknown commit operation {key!r}")
            sha = self._make_commit(r, head, files, header.get("summary") or "", header.get("description") or "")
            r["branches"][rev] = sha
        commit_url = f"{self.url}/{URL_PREFIX[type]}{repo}/commit/{sha}"
        return (
            200,
            {},
            {"success": True, "commitOid": sha, "commitUrl": commit_url, "hookOutput": "", "pullRequestUrl": None},
        )

    def _ep_resolve(self, request, type, repo, rev, path):
        with self._lock:
            r = self._repo(request, type, repo)
            sha = self._resolve(r, rev)
            entry = r["commits"][sha]["files"].get(path)
        if entry is None:
            raise HubError(404, f"Entry not found: {path}", code="EntryNotFound", headers={"X-Repo-Commit": sha})
        data = entry["data"]
        headers = {
            "X-Repo-Commit": sha,
            "Accept-Ranges": "bytes",
            "Content-Type": _content_type(path),
            "Content-Disposition": f'inline; filename="{quote(path.rsplit("/", 1)[-1])}"',
        }
        if entry["lfs"]:
            headers |= {"ETag": f'"{entry["lfs"]}"', "X-Linked-Etag": f'"{entry["lfs"]}"', "X-Linked-Size": len(data)}
        else:
            headers["ETag"] = f'"{git_blob_sha1(data)}"'
        range_match = re.fullmatch(r"bytes=(\d+)-(\d*)", request["headers"].get("Range", "").strip())
        if range_match and not request["head"]:
            start = int(range_match.group(1))
            end = min(int(range_match.group(2) or len(data) - 1), len(data) - 1)
            if start >= len(data):
                raise HubError(416, "Range not satisfiable", headers={"Content-Range": f"bytes */{len(data)}"})
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return 206, headers, data[start : end + 1]
        headers["Content-Length"] = len(data)  # also on HEAD, where no body follows
        return 200, headers, data


def _content_type(path: str) -> str:
    if path.endswith(".json"):
        return "application/json; charset=utf-8"
    if path.endswith((".md", ".txt", ".yaml", ".yml", ".py", ".gitattributes", ".gitignore")):
        return "text/plain; charset=utf-8"
    if path.endswith(".png"):
        return "image/png"
    return "application/octet-stream"


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to `LocalHub._handle`; HTTP/1.1 so the client's keep-alive connections are reused."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # seconds an idle keep-alive connection is kept open

    def do_GET(self):
        self.server.hub._handle(self)

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def log_request(self, code="-", size="-"):  # requests are logged by LocalHub._handle
        pass

    def log_message(self, format, *args):  # protocol errors; the default would print to stderr unredacted
        self.server.hub._log(format % args)


def connect_client(hub: LocalHub, monkeypatch, cache_dir) -> None:
    """Point the already-imported huggingface_hub (and diffusers) at `hub` for one test, through `monkeypatch`.

    Turns offline mode off in `huggingface_hub.constants` and in the modules that copied the flag at import time
    (diffusers), disables Xet, sets HF_TOKEN and a fresh cache folder. If huggingface_hub was imported before
    HF_ENDPOINT pointed at `hub` (e.g. another test module imported it first), the endpoint is patched too.
    """
    from huggingface_hub import constants, hf_api
    from huggingface_hub.utils import _http as hf_http

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # for subprocesses
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_TOKEN", hub.token)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache_dir))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache_dir))  # for subprocesses, like the others
    monkeypatch.setenv("HF_HOME", f"{cache_dir}-home")
    if hasattr(constants, "AGENT_HARNESSES_PATH"):
        monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", os.path.join(str(cache_dir), ".agent_harnesses.json"))
    for name, module in list(sys.modules.items()):  # they did `from huggingface_hub.constants import HF_HUB_OFFLINE`
        if name.startswith(("diffusers", "transformers")) and getattr(module, "HF_HUB_OFFLINE", None) is True:
            monkeypatch.setattr(module, "HF_HUB_OFFLINE", False)
    if constants.ENDPOINT != hub.url:
        hub._log(f"huggingface_hub was imported with ENDPOINT={constants.ENDPOINT}; patching it to {hub.url}")
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        template = hub.url + "/{repo_id}/resolve/{revision}/{filename}"  # used by hf_hub_url()
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr(constants, "HF_URL_HOSTS", frozenset({*constants.HF_URL_HOSTS, "127.0.0.1"}))
        origin = ("http", "127.0.0.1", hub.port)
        monkeypatch.setattr(hf_http, "_HUB_ORIGINS", frozenset({*hf_http._HUB_ORIGINS, origin}))
        monkeypatch.setattr(hf_api.api, "endpoint", hub.url)  # behind the module-level create_repo, upload_folder, ...
        for name, module in list(sys.modules.items()):  # only used in diffusers' error messages
            if name.startswith("diffusers") and hasattr(module, "HUGGINGFACE_CO_RESOLVE_ENDPOINT"):
                monkeypatch.setattr(module, "HUGGINGFACE_CO_RESOLVE_ENDPOINT", hub.url)
