"""`pip wheel .` from the checkout builds an importable wheel (the pip path of docs/python.md).

    python wheel_check.py SOURCE_DIR WORK_DIR

Builds with the running interpreter's scikit-build-core and nanobind (no build isolation: no
network), unpacks the wheel and imports propel from it in a fresh interpreter.
"""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

source, work = Path(sys.argv[1]), Path(sys.argv[2])
shutil.rmtree(work, ignore_errors=True)
work.mkdir(parents=True)
subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-build-isolation",
                "--no-deps", "--disable-pip-version-check", "-q", "-w", str(work / "dist")],
               check=True)
wheels = list((work / "dist").glob("propel-*.whl"))
assert len(wheels) == 1, wheels
names = zipfile.ZipFile(wheels[0]).namelist()
for want in ("propel/__init__.py", "propel/_core.py", "propel/sklearn.py"):
    assert want in names, (want, names)
assert any(n.startswith("propel/_propel.") and n.endswith(".so") for n in names), names
zipfile.ZipFile(wheels[0]).extractall(work / "site")
probe = (
    "import propel, numpy as np, pathlib, sys\n"
    f"assert pathlib.Path(propel.__file__).parent == pathlib.Path({str(work / 'site')!r}) / 'propel', propel.__file__\n"
    "m = propel.Model(4, 3, hidden=[8], seed=1)\n"
    "p = m.predict(np.ones((2, 4), dtype=np.float32))\n"
    "assert p.shape == (2, 3) and abs(float(p.sum()) - 2) < 1e-5\n"
    "print(wheel := sys.argv[1], propel.__version__, propel.active_target())\n"
)
subprocess.run([sys.executable, "-c", probe, wheels[0].name], check=True,
               env={"PYTHONPATH": str(work / "site"), "PATH": "/usr/bin:/bin"})
