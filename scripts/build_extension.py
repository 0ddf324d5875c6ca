"""Build the installable Postpass extension zips with Blender's own extension tool.

    python scripts/build_extension.py               # pip-download the wheels, one zip per platform -> dist/
    python scripts/build_extension.py --offline     # the same from the wheels already in wheels/
    python scripts/build_extension.py --no-wheels   # one zip without wheels (Blender must already have them)

What the zips hold is decided once, by the repository root's ``blender_manifest.toml`` (its ``[build]``
excludes training code, tests and tooling): the repository root is built as is, giving the zip without
wheels. For the platform zips that zip's contents are unpacked into a staging folder with the wheels, and
the staged manifest gains the ``platforms`` and ``wheels`` lists; ``build --split-platforms`` then writes one
zip per platform, each holding only that platform's wheels. The wheels are the runtime's own requirements
(``pyproject.toml``'s dependencies, at the versions ``constraints.txt`` pins) except numpy, which Blender
ships; wheels stay out of git (``wheels/`` is ignored) and are fetched from PyPI by ``pip download``.
"""
from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Blender's Python: the wheels must be built for it.
PYTHON_VERSION = "3.11"
#: Blender platform -> pip platform tags whose wheels run there (pip matches tags exactly for manylinux;
#: macOS tags also match older macOS versions). Left out: macos-x64 (no onnxruntime wheel) and windows-arm64
#: (no OpenCV wheel).
PLATFORMS = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64"],
    "linux-arm64": ["manylinux_2_28_aarch64", "manylinux_2_17_aarch64"],
    "macos-arm64": ["macosx_14_0_arm64"],
    "windows-x64": ["win_amd64"],
}
#: Shipped with Blender itself: bundling another copy would shadow Blender's.
PROVIDED_BY_BLENDER = {"numpy"}


def blender_ext() -> Path:
    """Blender's extension command line (``blender -c extension``), shipped inside the bpy wheel."""
    bpy_folder = Path(importlib.util.find_spec("bpy").origin).parent
    (tool,) = bpy_folder.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py")
    return tool


def _blender_ext_module():
    """The same tool as a module, for its rule of which wheel runs on which Blender platform."""
    spec = importlib.util.spec_from_file_location("blender_ext", blender_ext())
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def pinned_requirements() -> list[str]:
    """``name==version`` for each runtime dependency Blender lacks, as ``constraints.txt`` pins it."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==", 1)
            pins[_normalise(name.strip())] = version.strip()
    names = [re.split(r"[<>=!~;\[ ]", dep, maxsplit=1)[0] for dep in deps]
    return [f"{name}=={pins[_normalise(name)]}" for name in names if _normalise(name) not in PROVIDED_BY_BLENDER]


def download_wheels(folder: Path) -> None:
    """``pip download`` every pinned requirement for every platform into ``folder`` (already there: skipped)."""
    for platform, tags in PLATFORMS.items():
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--no-deps",
                   "--python-version", PYTHON_VERSION, "--implementation", "cp", "--dest", str(folder)]
        for tag in tags:
            command += ["--platform", tag]
        print(f"wheels for {platform}", flush=True)
        subprocess.run(command + pinned_requirements(), check=True)


def wheels_for(folder: Path) -> list[Path]:
    """The wheels in ``folder`` of the pinned requirements (other files or versions there are ignored)."""
    runs_on = _blender_ext_module().blender_platform_compatible_with_wheel_platform_from_filepath
    wanted = {tuple(_normalise(part) for part in req.split("==")) for req in pinned_requirements()}
    found = sorted(w for w in folder.glob("*.whl") if tuple(_normalise(p) for p in w.name.split("-")[:2]) in wanted)
    for platform in PLATFORMS:
        missing = {name for name, _ in wanted} - {_normalise(w.name.split("-")[0]) for w in found
                                                    if runs_on(platform, w.name)}
        if missing:
            raise SystemExit(f"{folder}: no {platform} wheel for {', '.join(sorted(missing))}; "
                             "run without --offline to download them")
    return found


def build(out: Path, wheels: list[Path] | None) -> list[Path]:
    """Build into ``out``: with ``wheels``, one zip per platform; without, one zip for every platform."""
    out.mkdir(parents=True, exist_ok=True)
    tool = [sys.executable, str(blender_ext()), "build"]
    if wheels is None:
        _run(tool + ["--source-dir", str(REPO), "--output-dir", str(out)])
        return sorted(out.glob("postpass-*.zip"))
    with tempfile.TemporaryDirectory(prefix="postpass-build-") as tmp:
        stage, plain = Path(tmp) / "stage", Path(tmp) / "plain"
        (archive,) = build(plain, None)
        zipfile.ZipFile(archive).extractall(stage)
        (stage / "wheels").mkdir()
        for wheel in wheels:
            (stage / "wheels" / wheel.name).write_bytes(wheel.read_bytes())
        manifest = stage / "blender_manifest.toml"
        manifest.write_text(with_platforms(manifest.read_text(), [f"./wheels/{w.name}" for w in wheels]))
        _run(tool + ["--source-dir", str(stage), "--output-dir", str(out), "--split-platforms"])
    version = tomllib.loads((REPO / "blender_manifest.toml").read_text())["version"]
    return [out / f"postpass-{version}-{platform.replace('-', '_')}.zip" for platform in PLATFORMS]


def with_platforms(manifest: str, wheel_paths: list[str]) -> str:
    """The manifest text with top-level ``platforms`` and ``wheels`` lists, placed before its first table."""
    lines = [f"platforms = [{', '.join(repr(p) for p in PLATFORMS)}]".replace("'", '"'),
             "wheels = [", *(f'  "{path}",' for path in wheel_paths), "]", ""]
    head, table, tail = manifest.partition("\n[")
    return head.rstrip("\n") + "\n" + "\n".join(lines) + table + tail


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[1:3])} failed:\n{result.stdout}{result.stderr}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="where the zips go (default: dist/)")
    parser.add_argument("--wheels", type=Path, default=REPO / "wheels",
                        help="wheel folder (default: wheels/, ignored by git)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--offline", action="store_true", help="use the wheels already downloaded")
    mode.add_argument("--no-wheels", action="store_true", help="one zip without wheels")
    args = parser.parse_args(argv)
    if args.no_wheels:
        zips = build(args.out, None)
    else:
        if not args.offline:
            download_wheels(args.wheels)
        zips = build(args.out, wheels_for(args.wheels))
    for archive in zips:
        print(f"{archive}  {archive.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
