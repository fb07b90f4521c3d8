"""The built wheel runs on its own: migrations and default configuration inside the package.

Builds the wheel from a copy of the source (no build isolation, no index: nothing is
downloaded), installs it in a fresh virtual environment that borrows this
interpreter's installed dependencies, then runs ``siap112 migrate`` and
``siap112 serve`` from it against a database of its own. Run alone with
``pytest -m wheel``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import site
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest

pytestmark = pytest.mark.wheel
ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "setup.py", "README.md", "dispatch", "sql", "config")


def _clean_env() -> dict[str, str]:
    """This environment without the settings and import path of the source checkout."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("SIAP112_") and k != "PYTHONPATH"}


def _run(*args: str | Path, env: dict[str, str] | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True,  # noqa: S603
                          timeout=120, check=False, env=env or _clean_env(), cwd=cwd)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtual environment with the wheel installed; its bin/ directory."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, src / name)
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", work / "dist", src)
    [wheel] = (work / "dist").glob("siap112-*.whl")
    venv = work / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
         "-q", wheel)
    # The dependencies come from this interpreter's environment (added after the
    # install, so pip sees no other siap112 there).
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
    Path(purelib.stdout.strip(), "borrowed-deps.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n")
    yield venv / "bin"


def _env(database_url: str, redis_url: str, port: int) -> dict[str, str]:
    env = _clean_env()
    env.update(SIAP112_DATABASE_URL=database_url, SIAP112_REDIS_URL=redis_url,
               SIAP112_HTTP_PORT=str(port), SIAP112_LOG_FORMAT="json")
    return env


async def _arun(*args: str | Path, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def wheel_db(services: tuple[str, str]) -> AsyncIterator[str]:
    """An empty database for the installed copy to migrate."""
    admin_url = services[0]
    name = f"siap112_wheel_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(urlsplit(admin_url)._replace(path="/" + name))
    await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await conn.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _readyz(bin_dir: Path, env: dict[str, str]) -> tuple[int, dict[str, object]]:
    """Start ``siap112 serve``, await its listening line, ask /readyz, stop it."""
    proc = await asyncio.create_subprocess_exec(
        bin_dir / "siap112", "serve", env=env, cwd=bin_dir,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    seen: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            async for line in proc.stderr:
                seen.append(line)
                if b"serve.listening" in line:
                    break
        assert proc.returncode is None, b"".join(seen).decode()
        url = f"http://127.0.0.1:{env['SIAP112_HTTP_PORT']}/readyz"
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            return resp.status, await resp.json()
    finally:
        proc.terminate()
        await proc.communicate()


async def test_the_installed_wheel_migrates_serves_and_reports_missing_migrations(
        installed: Path, wheel_db: str, redis_url: str) -> None:
    env = _env(wheel_db, redis_url, _free_port())
    rc, where, err = await _arun(installed / "python", "-c",
                                 "import dispatch; print(dispatch.__file__)",
                                 env=env, cwd=installed)
    assert rc == 0, err
    assert where.startswith(str(installed.parent))  # the wheel's copy, not the source tree
    package = Path(where.strip()).parent
    shipped = sorted(p.name for p in (package / "sql").glob("*.sql"))
    assert shipped == sorted(p.name for p in (ROOT / "sql").glob("*.sql"))
    assert (package / "config" / "siap112.toml").is_file()
    # The Kemendagri boundaries ship with their MIT notice and source.
    wilayah = package / "data" / "wilayah"
    assert sorted(p.name for p in wilayah.glob("*.geojson")) == [
        "areas.geojson", "desa.geojson", "kecamatan.geojson"]
    assert "MIT License" in (wilayah / "LICENSE").read_text()
    assert "cahyadsn/wilayah_boundaries" in (wilayah / "NOTICE").read_text()
    rc, out, err = await _arun(installed / "python", "-c",
                               "from dispatch.geodata import locate; "
                               "print(locate(-8.1146, 112.2337).desa)", env=env, cwd=installed)
    assert (rc, out.strip()) == (0, "Sawentar"), err

    rc, _, err = await _arun(installed / "siap112", "migrate", env=env, cwd=installed)
    assert rc == 0, err
    conn = await asyncpg.connect(wheel_db)
    try:
        applied = await conn.fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        await conn.close()
    assert applied == len(shipped)
    status, body = await _readyz(installed, env)
    assert (status, body["status"]) == (200, "ready"), body

    # The same installation with its migration files gone must not look ready.
    for sql in (package / "sql").glob("*.sql"):
        sql.unlink()
    status, body = await _readyz(installed, env)
    assert status == 503 and body["status"] == "not_ready"
    assert "missing_files" in body["checks"]["migrations"]  # type: ignore[index, operator]
    rc, _, err = await _arun(installed / "siap112", "migrate", env=env, cwd=installed)
    assert rc == 1 and "no migration files" in err
