"""The PEP 517 build backend of the daemon3143 Python package (in-tree,
standard library only: `pip install ./bindings/python` needs no setuptools,
wheel or maturin, so it works offline and in a bare venv).

build_wheel():
  1. builds libdaemon3143 from this source tree: `cargo build --release
     --lib` in the repository root (../..), or takes the library named by
     $D3143_WHEEL_LIB (a prebuilt libdaemon3143.so, e.g. a packager's);
  2. writes one py3-none-<platform> wheel: the daemon3143 package, py.typed,
     its type stubs, and the library as daemon3143/libdaemon3143.so.0 (the
     package loads that copy first).

The version is the library's: Cargo.toml's [package] version.
An sdist is refused: the package is built from the library's source tree.
"""

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bindings/python
ROOT = os.path.dirname(os.path.dirname(HERE))                       # the repository
NAME = 'daemon3143'
SUMMARY = "PEP 3143's DaemonContext and PidFile over libdaemon3143 (bundled)"


def _version():
    with open(os.path.join(ROOT, 'Cargo.toml')) as f:
        for line in f:
            m = re.match(r'^version\s*=\s*"([^"]+)"', line)
            if m:
                return m.group(1)
    raise RuntimeError('no version in %s/Cargo.toml' % ROOT)


def _tag():
    plat = sysconfig.get_platform().replace('-', '_').replace('.', '_')
    return 'py3-none-' + plat


def _log(msg):
    print('daemon3143_build: ' + msg, file=sys.stderr, flush=True)


def _cargo():
    cargo = os.environ.get('CARGO') or shutil.which('cargo')
    if not cargo:
        home = os.environ.get('CARGO_HOME') or os.path.expanduser('~/.cargo')
        cand = os.path.join(home, 'bin', 'cargo')
        cargo = cand if os.access(cand, os.X_OK) else None
    if not cargo:
        raise RuntimeError('daemon3143: cargo not found: install Rust (rustup) or set '
                           'D3143_WHEEL_LIB to a built libdaemon3143.so')
    return cargo


def _library():
    prebuilt = os.environ.get('D3143_WHEEL_LIB')
    if prebuilt:
        _log('bundling %s (D3143_WHEEL_LIB)' % prebuilt)
        return prebuilt
    if not os.path.exists(os.path.join(ROOT, 'Cargo.toml')):
        raise RuntimeError('daemon3143: %s is not the libdaemon3143 source tree; set '
                           'D3143_WHEEL_LIB to a built libdaemon3143.so' % ROOT)
    cargo = _cargo()
    meta = subprocess.run([cargo, 'metadata', '--no-deps', '--format-version', '1'],
                          cwd=ROOT, check=True, stdout=subprocess.PIPE).stdout
    target = json.loads(meta)['target_directory']
    _log('cargo build --release --lib (in %s)' % ROOT)
    # cargo's output goes to stderr, which pip shows with -v.
    subprocess.run([cargo, 'build', '--release', '--lib'], cwd=ROOT, check=True,
                   stdout=sys.stderr)
    lib = os.path.join(target, 'release', 'libdaemon3143.so')
    if not os.path.isfile(lib):
        raise RuntimeError('daemon3143: cargo built no %s' % lib)
    return lib


def _dist_info(version):
    with open(os.path.join(HERE, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    metadata = ('Metadata-Version: 2.1\n'
                'Name: %s\n'
                'Version: %s\n'
                'Summary: %s\n'
                'License: MIT\n'
                'Requires-Python: >=3.7\n'
                'Classifier: Operating System :: POSIX :: Linux\n'
                'Classifier: Programming Language :: Python :: 3\n'
                'Classifier: Typing :: Typed\n'
                'Description-Content-Type: text/markdown\n'
                '\n%s' % (NAME, version, SUMMARY, readme))
    wheel = ('Wheel-Version: 1.0\n'
             'Generator: daemon3143_build\n'
             'Root-Is-Purelib: false\n'
             'Tag: %s\n' % _tag())
    return {'METADATA': metadata.encode('utf-8'), 'WHEEL': wheel.encode('utf-8')}


def _package_files():
    """(archive name, path) of the package's own files."""
    pkg = os.path.join(HERE, NAME)
    out = []
    for name in sorted(os.listdir(pkg)):
        if name.endswith(('.py', '.pyi')) or name == 'py.typed':
            out.append(('%s/%s' % (NAME, name), os.path.join(pkg, name)))
    return out


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
    return '%s,sha256=%s,%d\n' % (name, digest, len(data))


# --- PEP 517 hooks ---------------------------------------------------------------

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    version = _version()
    di = '%s-%s.dist-info' % (NAME, version)
    os.makedirs(os.path.join(metadata_directory, di), exist_ok=True)
    for name, data in _dist_info(version).items():
        with open(os.path.join(metadata_directory, di, name), 'wb') as f:
            f.write(data)
    return di


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    version = _version()
    lib = _library()
    di = '%s-%s.dist-info' % (NAME, version)
    wheel_name = '%s-%s-%s.whl' % (NAME, version, _tag())
    path = os.path.join(wheel_directory, wheel_name)
    record = io.StringIO()

    def add(zf, name, data, mode=0o644):
        info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = (0o100000 | mode) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, data)
        record.write(_record_line(name, data))

    with zipfile.ZipFile(path + '.tmp', 'w') as zf:
        for name, src in _package_files():
            with open(src, 'rb') as f:
                add(zf, name, f.read())
        with open(lib, 'rb') as f:
            add(zf, '%s/libdaemon3143.so.0' % NAME, f.read(), 0o755)
        for name, data in _dist_info(version).items():
            add(zf, '%s/%s' % (di, name), data)
        record.write('%s/RECORD,,\n' % di)
        add_info = zipfile.ZipInfo('%s/RECORD' % di, date_time=(2020, 1, 1, 0, 0, 0))
        add_info.external_attr = (0o100644) << 16
        zf.writestr(add_info, record.getvalue())
    os.replace(path + '.tmp', path)
    _log('wrote %s' % path)
    return wheel_name


def build_sdist(sdist_directory, config_settings=None):
    raise RuntimeError('daemon3143: no sdist: the package bundles libdaemon3143, built from '
                       'its source tree; build a wheel from it instead: '
                       '`pip wheel ./bindings/python` or `pip install ./bindings/python`')
