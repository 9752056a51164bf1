"""The plug-in's copies of ``plugins/common/``: the daemon client and what both plug-ins do alike.

``seam-refine install-plugin krita`` copies them next to this file; run from the repository (tests,
development) they are read from ``plugins/common/``. Standard library only.
"""

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_COMMON = HERE.parents[1] / "common"


def load(name):
    """The shared module ``name`` (``seamrefine_client`` or ``seamrefine_policy``), imported once."""
    qualified = f"{__package__}.{name}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    path = next((d / f"{name}.py" for d in (HERE, REPO_COMMON) if (d / f"{name}.py").is_file()), None)
    if path is None:
        hint = "reinstall it with `seam-refine install-plugin krita`"
        raise ImportError(f"{name}.py is missing; {hint}", name=name)
    spec = importlib.util.spec_from_file_location(qualified, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[qualified]
        raise
    return module
