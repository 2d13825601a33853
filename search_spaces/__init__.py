"""Search-space families (temporary: porting in progress)."""
import importlib
for _family in ("vgg", "nb201", "mixed"):
    importlib.import_module(f"{__name__}.{_family}")
