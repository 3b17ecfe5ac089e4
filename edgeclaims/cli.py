"""The ``edgeclaims`` command (also ``python -m edgeclaims``).

    edgeclaims keygen --alg hmac-sha256 --id 2026-11
    edgeclaims sign --config edgeclaims.toml --url https://app/whoami --claims '{"sub":"alice"}'
    edgeclaims verify --config edgeclaims.toml --url https://app/whoami -H 'X-Edge-Claims: …' …
    edgeclaims check --config edgeclaims.toml
    edgeclaims roles --config edgeclaims.toml --claims '{"groups":["okta-admins"]}'
    edgeclaims export-policy --config edgeclaims.toml --out policy.json
    edgeclaims demo [--once]
    edgeclaims docs [iis]
    edgeclaims samples --out DIR [--force]

Exit status: 0 success / accepted, 1 refused or invalid, 2 usage error.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import ntpath
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from edgeclaims import bundled
from edgeclaims.algorithms import ALGORITHMS, SignKey
from edgeclaims.config import config_warnings, load_config
from edgeclaims.errors import ConfigurationError
from edgeclaims.replay.base import ReplayStore
from edgeclaims.signer import load_signing_key, sign_request
from edgeclaims.testing import build_asgi_scope

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    for stream in (sys.stdout, sys.stderr):
        # A Windows console or a file redirected under cp1252 cannot encode
        # ✓ and ✗: write a replacement, never fail with UnicodeEncodeError.
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="replace")
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        status: int = args.run(args, sys.stdout)
    except ConfigurationError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 1
    except FileExistsError as exc:
        print(f"edgeclaims: {exc.filename} exists; --force overwrites it", file=sys.stderr)
        return 1
    except OSError as exc:
        # One line, not a traceback: a path that does not exist, a folder
        # the account cannot write.
        where = f": {exc.filename}" if exc.filename else ""
        print(f"edgeclaims: {exc.strerror or type(exc).__name__}{where}", file=sys.stderr)
        return 1
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgeclaims", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    keygen = commands.add_parser("keygen", help="make a key for the edge and the origin")
    keygen.add_argument("--alg", choices=sorted(ALGORITHMS), default="hmac-sha256")
    keygen.add_argument("--id", default=time.strftime("%Y-%m"), help="key id (default: YYYY-MM)")
    keygen.add_argument("--out", type=Path, help="folder to write the key files to")
    keygen.add_argument(
        "--jwks", action="store_true", help="also write the public key as a JWKS (jws sources)"
    )
    keygen.add_argument("--force", action="store_true", help="overwrite existing key files")
    keygen.set_defaults(run=_keygen)

    sign = commands.add_parser("sign", help="print the identity headers the edge would add")
    sign.add_argument("--config", help="sign with an HMAC key of this configuration")
    sign.add_argument("--key-id", help="key id (with --secret / --private-key)")
    sign.add_argument(
        "--alg",
        default="hmac-sha256",
        help=f"RFC 9421: {', '.join(sorted(ALGORITHMS))}; JWS: HS256, ES256, RS256, PS256, EdDSA…",
    )
    sign.add_argument(
        "--profile",
        choices=("rfc9421", "jws"),
        default="rfc9421",
        help="signed claims header (rfc9421, default) or a compact JWS in X-Edge-Jwt",
    )
    sign.add_argument("--ttl", type=int, default=60, help="JWS lifetime in seconds (exp)")
    sign.add_argument("--secret", help="HMAC secret with its prefix (base64:…, hex:…, …)")
    sign.add_argument("--private-key", type=Path, help="PEM private key file (asymmetric algs)")
    sign.add_argument("--method", default="GET")
    sign.add_argument("--url", required=True, help="absolute URL as the origin receives it")
    sign.add_argument("--claims", required=True, help="claims as a JSON object, or @file.json")
    sign.add_argument("--created", type=int, help="Unix time (default: now)")
    sign.add_argument("--nonce")
    sign.add_argument("--path-form", choices=("exact", "normalized"), default="exact")
    sign.add_argument("--format", choices=("curl", "headers", "json"), default="curl")
    sign.set_defaults(run=_sign)

    verify = commands.add_parser("verify", help="explain the verdict on a request, step by step")
    verify.add_argument("--config", help="configuration file (default: EDGECLAIMS_CONFIG)")
    verify.add_argument("--method", default="GET")
    verify.add_argument("--url", required=True)
    verify.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        help="'Name: value', repeatable (a repeated name is kept as two lines), or @file "
        "with one header per line",
    )
    verify.add_argument("--now", type=float, help="pretend the time is this Unix time")
    verify.add_argument(
        "--body",
        help="the request body, for a source that signs it (oauth2-proxy); @file reads a file "
        "byte for byte (default: empty)",
    )
    verify.add_argument(
        "--record",
        action="store_true",
        help="record the nonce in the replay store as the server would (default: only look)",
    )
    verify.set_defaults(run=_verify)

    check = commands.add_parser("check", help="validate a configuration and warn about risks")
    check.add_argument("--config", help="configuration file (default: EDGECLAIMS_CONFIG)")
    check.add_argument(
        "--ping",
        action="store_true",
        help="also record a probe nonce in the replay store (is Redis reachable?)",
    )
    check.set_defaults(run=_check)

    roles = commands.add_parser("roles", help="which roles a set of claims gets, and why")
    roles.add_argument("--config", help="configuration file (default: EDGECLAIMS_CONFIG)")
    roles.add_argument("--claims", required=True, help="claims as a JSON object, or @file.json")
    roles.add_argument("--json", action="store_true", help="print the explanation as JSON")
    roles.set_defaults(run=_roles)

    export = commands.add_parser(
        "export-policy", help="write roles and routes as the JSON document the edge loads"
    )
    export.add_argument("--config", help="configuration file (default: EDGECLAIMS_CONFIG)")
    export.add_argument("--out", type=Path, help="file to write (default: standard output)")
    export.set_defaults(run=_export_policy)

    demo = commands.add_parser("demo", help="edge and app on this machine, a scripted story")
    demo.add_argument("--once", action="store_true", help="tell the story and exit")
    demo.add_argument("--port", type=int, default=0, help="origin port (default: any free)")
    demo.set_defaults(run=_demo)

    docs = commands.add_parser("docs", help="list the bundled documentation, or print one")
    docs.add_argument("name", nargs="?", help="README, iis, roles … (default: list them)")
    docs.set_defaults(run=bundled.run_docs)

    samples = commands.add_parser(
        "samples", help="copy the samples, docs and web.config templates into a folder"
    )
    samples.add_argument("--out", type=Path, required=True, help="folder to copy them into")
    samples.add_argument("--force", action="store_true", help="overwrite files already there")
    samples.set_defaults(run=bundled.run_samples)
    return parser


# -- keygen -----------------------------------------------------------------------


def _keygen(args: argparse.Namespace, out: TextIO) -> int:
    alg: str = args.alg
    key_id: str = args.id
    if ALGORITHMS[alg].key_kind == "secret":
        secret = "base64url:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip(
            "="
        )
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            path = args.out / f"edge-{key_id}.key"
            write_key_file(path, secret + "\n", private=True, force=args.force)
            material = f'secret_file = "{path.as_posix()}"'
            out.write(f"wrote {path} (keep it readable only by the app pool identity)\n")
        else:
            material = 'secret_env = "EDGECLAIMS_KEY"'
            out.write(f"EDGECLAIMS_KEY={secret}\n")
        out.write(f'\nkeys = [{{ id = "{key_id}", alg = "{alg}", {material} }}]\n')
        return 0
    private = _generate_private_key(alg)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    if args.jwks:
        from edgeclaims.algorithms import RFC9421_AS_JOSE
        from edgeclaims.jwks import jwks_document

        document = json.dumps(jwks_document([(key_id, RFC9421_AS_JOSE[alg], private)]), indent=2)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            jwks_path = args.out / f"edge-{key_id}.jwks.json"
            write_key_file(jwks_path, document + "\n", private=False, force=args.force)
            out.write(f"wrote {jwks_path} (publish it, or name it in jwks_file)\n")
        else:
            out.write(document + "\n")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        private_path = args.out / f"edge-{key_id}.private.pem"
        public_path = args.out / f"edge-{key_id}.public.pem"
        for path in (private_path, public_path):
            if path.exists() and not args.force:  # neither file is written then
                raise FileExistsError(17, "exists", str(path))
        write_key_file(private_path, private_pem, private=True, force=args.force)
        write_key_file(public_path, public_pem, private=False, force=args.force)
        out.write(f"wrote {private_path} (for the edge only) and {public_path}\n")
        material = f'public_key_file = "{public_path.as_posix()}"'
    else:
        out.write(private_pem + public_pem)
        material = 'public_key_file = "edge-public.pem"'
    out.write(f'\nkeys = [{{ id = "{key_id}", alg = "{alg}", {material} }}]\n')
    return 0


def write_key_file(path: Path, text: str, *, private: bool, force: bool) -> None:
    """Write a key file, a private one for its owner only; overwrite only with ``force``.

    POSIX: created with mode 0600 (and set to it when overwritten, since an
    existing file keeps its mode). Windows: mode bits do not restrict
    reading, so the file's inherited ACL is replaced by one granting the
    current account alone (``icacls``); grant the app pool identity read
    access afterwards (docs/iis.md, step 5).
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    descriptor = os.open(path, flags, 0o600 if private else 0o644)
    with os.fdopen(descriptor, "w", encoding="ascii", newline="\n") as handle:
        if private and os.name != "nt":
            os.fchmod(handle.fileno(), 0o600)
        handle.write(text)
    if private and os.name == "nt":  # pragma: no cover - Windows only
        command = owner_only_acl_command(path)
        subprocess.run(command, check=True, capture_output=True)  # noqa: S603 - fixed program


def owner_only_acl_command(path: Path) -> list[str]:
    """The ``icacls`` command that leaves the current Windows account alone on ``path``."""
    account = os.environ.get("USERNAME", "")
    domain = os.environ.get("USERDOMAIN")
    who = f"{domain}\\{account}" if domain else account
    # The full path: a PATH entry must not choose which program sets the ACL.
    icacls = ntpath.join(os.environ.get("SYSTEMROOT", "C:\\Windows"), "System32", "icacls.exe")
    return [icacls, str(path), "/inheritance:r", "/grant:r", f"{who}:F"]


def _generate_private_key(
    alg: str,
) -> ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey:
    kind = ALGORITHMS[alg].key_kind
    if kind == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


# -- sign ---------------------------------------------------------------------------


def _sign(args: argparse.Namespace, out: TextIO) -> int:
    from edgeclaims.keys import decode_secret
    from edgeclaims.testing import EdgeSigner

    claims = _read_claims(args.claims)
    if claims is None:
        return 2
    if args.profile == "jws":
        return _sign_jws(args, claims, out)
    if args.alg not in ALGORITHMS:
        print(f"--alg must be one of {', '.join(sorted(ALGORITHMS))}", file=sys.stderr)
        return 2
    if args.config:
        signer = EdgeSigner.for_config(args.config, key_id=args.key_id)
        key, components = signer.key, signer.components
        path_form = signer.path_form
    else:
        if not args.key_id or not (args.secret or args.private_key):
            print("give --config, or --key-id with --secret or --private-key", file=sys.stderr)
            return 2
        material: bytes | str = (
            decode_secret(args.secret, "--secret")
            if args.secret
            else args.private_key.read_text(encoding="ascii")
        )
        key = load_signing_key(args.key_id, args.alg, material)
        components, path_form = None, args.path_form
    headers = sign_request(
        args.method,
        args.url,
        claims,
        key,
        components=components,
        created=args.created,
        nonce=args.nonce,
        path_form=path_form,
    )
    _print_headers(args, headers, out)
    return 0


def _sign_jws(args: argparse.Namespace, claims: dict[str, object], out: TextIO) -> int:
    from edgeclaims.jose import sign_jws
    from edgeclaims.keys import decode_secret

    if not args.key_id or not (args.secret or args.private_key):
        print("a JWS needs --key-id with --secret or --private-key", file=sys.stderr)
        return 2
    material: SignKey
    if args.secret:
        material = decode_secret(args.secret, "--secret")
    else:
        private = serialization.load_pem_private_key(args.private_key.read_bytes(), password=None)
        if not isinstance(
            private, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
        ):
            print(f"unsupported private key {type(private).__name__}", file=sys.stderr)
            return 2
        material = private
    now = args.created if args.created is not None else int(time.time())
    claims = {"iat": now, "exp": now + args.ttl, **claims}
    try:
        token = sign_jws(claims, args.key_id, args.alg, material)
    except (ValueError, TypeError) as exc:
        print(f"cannot sign: {exc}", file=sys.stderr)
        return 2
    _print_headers(args, {"X-Edge-Jwt": token}, out)
    return 0


def _read_claims(text: str) -> dict[str, object] | None:
    """``--claims``: a JSON object, or ``@file.json``; None (and a message) otherwise."""
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    try:
        claims = json.loads(text)
    except ValueError:
        print("--claims is not JSON", file=sys.stderr)
        return None
    if not isinstance(claims, dict):
        print("--claims must be a JSON object", file=sys.stderr)
        return None
    return claims


def _print_headers(args: argparse.Namespace, headers: dict[str, str], out: TextIO) -> None:
    """Signed headers as JSON, as header lines, or as a ready ``curl`` command."""
    if args.format == "json":
        out.write(json.dumps(headers, indent=2) + "\n")
    elif args.format == "headers":
        out.writelines(f"{name}: {value}\n" for name, value in headers.items())
    else:
        flags = " ".join(f"-H '{name}: {value}'" for name, value in headers.items())
        out.write(f"curl -X {args.method} {flags} '{args.url}'\n")


# -- verify ----------------------------------------------------------------------------


def _verify(args: argparse.Namespace, out: TextIO) -> int:
    from edgeclaims.engine import Engine
    from edgeclaims.replay import build_replay_store
    from edgeclaims.request import RequestView

    config = load_config(args.config)
    clock = (lambda: float(args.now)) if args.now is not None else time.time
    store = build_replay_store(config.replay, clock=clock)
    if store is not None and not args.record:
        # On a production host the real request still needs its nonce.
        store = LookOnlyStore(store)
    engine = Engine(config, clock=clock, replay_store=store)
    headers = _read_header_lines(args.header)
    if headers is None:
        return 2
    # An ASGI view keeps repeated lines apart, so a header given twice is
    # refused as the server refuses it (ambiguous), not silently merged.
    view = RequestView.from_asgi(build_asgi_scope(args.method, args.url, headers))
    if engine.body_limit_for(view) is not None:
        body = _read_body(args.body)
        if body is None:
            return 2
        view.body = body
    computed: list[str] = []

    def trace(step: str, detail: str) -> None:
        if step == "base":
            computed.extend(detail.split("\n"))
            out.write("  · signature base, as the origin computed it:\n")
            out.writelines(f"      {line}\n" for line in computed)
        elif step == "replay" and isinstance(store, LookOnlyStore):
            detail = detail.replace(
                "first sighting", "would be the first sighting (not recorded; --record records it)"
            ).replace("seen before", "already seen (the server refuses it as replayed)")
            out.write(f"  ✓ {step}: {detail}\n")
        else:
            out.write(f"  ✓ {step}: {detail}\n")

    out.write(f"{args.method} {args.url}\n")
    outcome = engine.decide(view, trace)
    error = outcome.refusal or outcome.observed
    if error is not None:
        out.write(f"  ✗ {error.code}: {error.detail}\n")
        if error.code == "bad_signature" and computed:
            out.write(_BAD_SIGNATURE_HINTS)
        # The refusing source may know which of its settings to check (providers).
        refusing = next((s for s in engine.sources if s.name == outcome.source), None)
        hint = refusing.refusal_hint(error.code) if refusing is not None else None
        if hint:
            out.write(f"    hint: {hint}\n")
        out.write(f"verdict: refused ({error.status} {error.code})\n")
        return 1
    if outcome.identity is None:
        out.write("verdict: accepted as anonymous (public route)\n")
        return 0
    identity = outcome.identity
    out.write(f"  ✓ roles: {', '.join(sorted(identity.roles)) or '(none)'}\n")
    out.write(f"verdict: accepted — subject {identity.subject!r} via {identity.source}\n")
    return 0


def _read_body(text: str | None) -> bytes | None:
    """``--body``: the text as UTF-8, ``@file`` byte for byte; None when unreadable (said)."""
    if text is None:
        return b""
    if not text.startswith("@"):
        return text.encode("utf-8")
    try:
        return Path(text[1:]).read_bytes()
    except OSError as exc:
        sys.stderr.write(f"edgeclaims verify: cannot read {text[1:]}: {exc.strerror}\n")
        return None


_BAD_SIGNATURE_HINTS = """\
    The edge signed other bytes than the lines above, or with another key.
    Compare each line with what the edge signed:
      "@method"     the method as sent (upper-case)
      "@authority"  the Host header, lower-cased, default port removed — a proxy
                    that rewrites Host, or a port the edge left out, changes it
      "@path"       the raw path as on the request line; under HttpPlatformHandler
                    both sides need path_form = "normalized"
      "@query"      "?" and the raw query, exactly ("?" alone when there is none)
      headers       the value as received, lines joined by ", " — a proxy that
                    re-encodes or trims a header changes it
    and that the edge's key (keyid) holds the same secret as this configuration.
"""


class LookOnlyStore(ReplayStore):
    """A replay store that answers from another one and records nothing (``verify``)."""

    def __init__(self, store: ReplayStore) -> None:
        self._store = store
        self.name = store.name

    def check_and_record(self, scope: str, key_id: str, nonce: str, ttl: float) -> bool:
        return not self._store.seen(scope, key_id, nonce)

    async def acheck_and_record(self, scope: str, key_id: str, nonce: str, ttl: float) -> bool:
        return self.check_and_record(scope, key_id, nonce, ttl)

    def seen(self, scope: str, key_id: str, nonce: str) -> bool:
        return self._store.seen(scope, key_id, nonce)

    def close(self) -> None:
        self._store.close()


def _read_header_lines(items: Sequence[str]) -> list[tuple[str, str]] | None:
    """``-H 'Name: value'`` and ``-H @file`` (one header per line, # comments) in order."""
    headers: list[tuple[str, str]] = []
    for item in items:
        if item.startswith("@"):
            lines = Path(item[1:]).read_text(encoding="utf-8").splitlines()
            lines = [line for line in lines if line.strip() and not line.startswith("#")]
        else:
            lines = [item]
        for line in lines:
            name, sep, value = line.partition(":")
            if not sep or not name.strip():
                print(f"-H {line!r}: expected 'Name: value'", file=sys.stderr)
                return None
            headers.append((name.strip(), value.strip()))
    return headers


# -- check ------------------------------------------------------------------------------


def _check(args: argparse.Namespace, out: TextIO) -> int:
    """Everything start-up validates, then the warnings; exit 1 on an error."""
    from edgeclaims.replay import build_replay_store

    config = load_config(args.config)
    # What the middleware builds at start-up: a SQLite file it must be able
    # to create and write, the redis package (a 502 on IIS otherwise).
    store = build_replay_store(config.replay)
    if store is not None:
        out.write(f"replay store: {store!r}\n")
    if args.ping and store is not None:
        from edgeclaims.errors import ReplayStoreUnavailable

        try:
            store.check_and_record("edgeclaims-check", "probe", secrets.token_urlsafe(12), 1.0)
        except ReplayStoreUnavailable as exc:
            print(f"replay store unreachable: {exc.detail}", file=sys.stderr)
            return 1
        out.write("replay store: a probe nonce was recorded\n")
    out.write(f"configuration OK: {len(config.sources)} source(s), mode {config.mode}\n")
    for warning in config_warnings(config):
        out.write(f"warning {warning.id}: {warning.message}\n")
    return 0


def _roles(args: argparse.Namespace, out: TextIO) -> int:
    config = load_config(args.config)
    claims = _read_claims(args.claims)
    if claims is None:
        return 2
    explanation = config.policy.explain(claims)
    if args.json:
        out.write(json.dumps(explanation.as_dict(), indent=2) + "\n")
    else:
        out.write(explanation.format() + "\n")
    return 0


def _export_policy(args: argparse.Namespace, out: TextIO) -> int:
    config = load_config(args.config)
    document = json.dumps(config.policy.export(), indent=2, sort_keys=True) + "\n"
    if args.out:
        args.out.write_text(document, encoding="utf-8")
        out.write(f"wrote {args.out}\n")
    else:
        out.write(document)
    return 0


def _demo(args: argparse.Namespace, out: TextIO) -> int:
    from edgeclaims.demo import run_demo

    return run_demo(out, once=args.once, port=args.port)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
