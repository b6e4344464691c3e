#!/usr/bin/env python3
"""Fetches the real IFC files over 10 MB that the benchmarks compare with web-ifc (issue 15).

The shared corpus has no IFC file over 10 MB. These four come from source distributions
published on PyPI (the one registry here that ships such files), and stay outside the
project: their packages are MIT, but whether that covers the models is not stated (two look
like exports of Autodesk's Revit sample projects; one names a real architect in its header).
Use them to measure, never commit them.

    scripts/fetch-large-ifc.py DIR        # downloads the sdists, extracts the four files into DIR

Each file's SHA-256 is checked; a mismatch is an error. Needs only the Python standard
library and the PyPI index.
"""
import hashlib
import json
import os
import sys
import tarfile
import urllib.request

# (package, version, sdist file name, member path, file name written, bytes, sha256)
FILES = [
    ("ifc-mcp", "0.2.11", "ifc_mcp-0.2.11.tar.gz", "ifc_mcp-0.2.11/data/BasicHouse.ifc",
     "BasicHouse-Revit2021-IFC2X3.ifc", 52702577,
     "540d75a15923ce7ef7821ee7a744298b99a6b8cdeb9afc92a1a6723b3ea2c923"),
    ("ifc-mcp", "0.2.11", "ifc_mcp-0.2.11.tar.gz", "ifc_mcp-0.2.11/data/AdvancedProject.ifc",
     "AdvancedProject-Revit2021-IFC2X3.ifc", 44337371,
     "86b068a7ca6947e398c1daaa8bede9d31048c3990adc308429faeb56ee01db94"),
    ("iil-nl2cadfw", "0.1.1", "iil_nl2cadfw-0.1.1.tar.gz",
     "iil_nl2cadfw-0.1.1/packages/nl2cad-core/tests/fixtures/minimal.ifc",
     "Offingen-ArchiCAD25-IFC2X3.ifc", 38572994,
     "b8927f24e1365d99a43cfa825781746857b3537c94e6b5bdea66537aeb5ee8ca"),
    ("exterior-shell", "1.2.0", "exterior_shell-1.2.0.tar.gz",
     "exterior_shell-1.2.0/tests/fixtures/test_bigger_building.ifc",
     "AC20-Institute-Var-2-ArchiCAD20-IFC4.ifc", 10786515,
     "a06b9cf1922cc0a1e200719189054510dd3e1d188292325f66614f7c1fdb37b4"),
]


def sdist_url(package, filename):
    request = urllib.request.Request(
        f"https://pypi.org/simple/{package}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        files = json.load(response)["files"]
    for f in files:
        if f["filename"] == filename:
            return f["url"]
    raise SystemExit(f"{package}: {filename} is not on PyPI any more")


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(sys.argv) == 2 else 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    sdists = {}
    for package, version, sdist, member, name, size, sha in FILES:
        target = os.path.join(out, name)
        if os.path.exists(target) and os.path.getsize(target) == size:
            print(f"{name}: present")
            continue
        if sdist not in sdists:
            path = os.path.join(out, "." + sdist)
            print(f"{package} {version}: downloading {sdist}", flush=True)
            urllib.request.urlretrieve(sdist_url(package, sdist), path)
            sdists[sdist] = path
        with tarfile.open(sdists[sdist]) as tar:
            data = tar.extractfile(member).read()
        digest = hashlib.sha256(data).hexdigest()
        if len(data) != size or digest != sha:
            raise SystemExit(f"{name}: {len(data)} bytes, sha256 {digest}; expected {size}, {sha}")
        with open(target, "wb") as f:
            f.write(data)
        print(f"{name}: {size} bytes, sha256 checked")
    for path in sdists.values():
        os.remove(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
