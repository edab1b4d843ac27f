"""Sources where partner exports live: object storage (`s3://`, `gs://`) and `https://`,
read in place.

DuckDB reads them through an fsspec filesystem registered on its connection (s3fs for S3),
so CSV and Parquet stream from the bucket into the columnar engine with no copy made in
Python; JSONL goes through the same line reader as a local file, over a stream.

Credentials never appear in manifests: they come from the standard chain of the storage's own
client (for S3, botocore: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`,
`AWS_PROFILE`, an instance or task role), and `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` point
at an S3-compatible endpoint exactly as for every AWS tool. A manifest may name an `endpoint`
and a `region`.

A path may glob over a prefix (`s3://exports/amperity/*.parquet`: every object is one part of
the source) and may hold a `{date}` placeholder with `pick: latest`, which picks the newest
dated partition (`s3://exports/amperity/{date}/*.csv`, dates as YYYY-MM-DD or YYYYMMDD).
A saved plan binds to each object's identity (ETag, version id, size, last-modified), read
from the listing without downloading anything.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, BinaryIO

from reconciler.errors import Diagnostic, Location, SourceDataError

SCHEMES = ("s3://", "gs://", "gcs://", "http://", "https://")
_GLOB = re.compile(r"[*?\[]")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2}|\d{8})$")


def is_remote(path: str) -> bool:
    return path.startswith(SCHEMES)


@dataclass(frozen=True)
class Options:
    endpoint: str | None = None
    region: str | None = None
    pick: str | None = None


@dataclass(frozen=True)
class RemoteObject:
    url: str  # as reconciler shows it: scheme://bucket/key
    identity: str  # etag, version, size, modified: what a saved plan binds to


@dataclass(frozen=True)
class RemotePath:
    """A remote object where the readers take a Path: `.suffix`, `.open()`, `str()`."""

    url: str
    options: Options = Options()

    def __str__(self) -> str:
        return self.url

    @property
    def suffix(self) -> str:
        name = self.url.rsplit("/", 1)[-1]
        return "." + name.rsplit(".", 1)[-1] if "." in name else ""

    def is_file(self) -> bool:
        return True  # resolve() found it

    def open(self, mode: str = "r", **kw: Any) -> Any:
        raw = open_binary(self.url, self.options)
        if "b" in mode:
            return raw
        return io.TextIOWrapper(
            raw, encoding=kw.get("encoding") or "utf-8", newline=kw.get("newline")
        )


def _scheme(url: str) -> str:
    return url.split("://", 1)[0]


@lru_cache(maxsize=16)
def filesystem(scheme: str, endpoint: str | None, region: str | None) -> Any:
    """The fsspec filesystem for a scheme (one per endpoint and region, reused)."""
    if scheme == "s3":
        import s3fs  # type: ignore[import-untyped]

        client: dict[str, str] = {}
        if endpoint:
            client["endpoint_url"] = endpoint
        if region:
            client["region_name"] = region
        return s3fs.S3FileSystem(client_kwargs=client, skip_instance_cache=True)
    if scheme in ("gs", "gcs"):
        try:
            import gcsfs  # type: ignore[import-not-found]
        except ImportError:
            raise SourceDataError(
                [Diagnostic(Location(f"{scheme}://"), "gs:// sources need the gcsfs package")],
                summary="gs:// sources need the gcsfs package (pip install gcsfs)",
            ) from None
        return gcsfs.GCSFileSystem(endpoint_url=endpoint) if endpoint else gcsfs.GCSFileSystem()
    import fsspec  # type: ignore[import-untyped]

    return fsspec.filesystem(scheme)


def _fs(url: str, options: Options) -> Any:
    return filesystem(_scheme(url), options.endpoint, options.region)


def _bare(url: str) -> str:
    return url if _scheme(url) in ("http", "https") else url.split("://", 1)[1]


def _url(scheme: str, bare: str) -> str:
    return bare if scheme in ("http", "https") else f"{scheme}://{bare}"


def problem(url: str, e: BaseException) -> SourceDataError:
    """A storage error, in words, naming the object; never a traceback, never a credential."""
    text = " ".join(str(e).split())
    name = type(e).__name__
    if isinstance(e, FileNotFoundError) or "NoSuchKey" in text or "Not Found" in text:
        why = "not found (no such object or bucket)"
        if "bucket does not exist" in text:
            why = "not found: the bucket does not exist"
    elif isinstance(e, PermissionError) or "AccessDenied" in text or "Forbidden" in text:
        why = "access denied: the credentials in use may not read it"
    elif "PermanentRedirect" in text or "region" in text.lower() or "301" in text:
        why = "the bucket is in another region: set `region:` on the source (or AWS_REGION)"
    elif name in ("NoCredentialsError", "PartialCredentialsError"):
        why = (
            "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or "
            "run with a role"
        )
    else:
        why = f"cannot read: {name}: {text[:200]}"
    return SourceDataError([Diagnostic(Location(url), why)], summary=f"{url}: {why}")


def _identity(info: dict[str, Any]) -> str:
    parts = [
        f"etag={str(info.get('ETag') or info.get('etag') or '').strip(chr(34))}",
        f"version={info.get('VersionId') or ''}",
        f"size={info.get('size', '')}",
        f"modified={info.get('LastModified') or info.get('mtime') or info.get('updated') or ''}",
    ]
    return ";".join(parts)


def resolve(path: str, options: Options) -> list[RemoteObject]:
    """The objects a remote source path names, in key order; a located error when there are
    none, or when the storage refuses."""
    scheme = _scheme(path)
    fs = _fs(path, options)
    target = path
    try:
        if "{date}" in path:
            target = _latest(path, fs)
        bare = _bare(target)
        if _GLOB.search(bare):
            names = sorted(fs.glob(bare))
            if not names:
                raise SourceDataError(
                    [Diagnostic(Location(target), "the pattern matches no object")],
                    summary=f"{target}: the pattern matches no object",
                )
            infos = [fs.info(n) for n in names]
        else:
            infos = [fs.info(bare)]
            if infos[0].get("type") == "directory":
                raise SourceDataError(
                    [Diagnostic(Location(target), "a prefix, not an object: add /*.csv")],
                )
    except SourceDataError:
        raise
    except Exception as e:  # noqa: BLE001 - the storage client's errors are many; each is named
        raise problem(target, e) from None
    return [RemoteObject(_url(scheme, str(i["name"])), _identity(i)) for i in infos]


def _latest(path: str, fs: Any) -> str:
    """`{date}` replaced by the newest dated partition that exists under its prefix."""
    head, tail = path.split("{date}", 1)
    listing = _bare(head).rstrip("/")
    entries = fs.ls(listing, detail=False)
    dates = sorted(
        name.rstrip("/").rsplit("/", 1)[-1]
        for name in entries
        if _DATE.match(name.rstrip("/").rsplit("/", 1)[-1])
    )
    if not dates:
        raise SourceDataError(
            [Diagnostic(Location(path), f"no dated partition (YYYY-MM-DD) under {head}")],
            summary=f"{path}: no dated partition under {head}",
        )
    return f"{head}{dates[-1]}{tail}"


def open_binary(url: str, options: Options) -> BinaryIO:
    try:
        return _fs(url, options).open(_bare(url), "rb")  # type: ignore[no-any-return]
    except Exception as e:  # noqa: BLE001
        raise problem(url, e) from None


def register(con: Any, url: str, options: Options) -> None:
    """Let DuckDB read `url` through the filesystem (idempotent per connection)."""
    fs = _fs(url, options)
    try:
        con.register_filesystem(fs)
    except Exception as e:  # noqa: BLE001 - already registered on this connection
        if "already" not in str(e).lower():
            raise
