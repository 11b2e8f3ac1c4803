"""List the benchmarks: `python -m benchmarks`."""

import pkgutil

import benchmarks

if __name__ == "__main__":
    print("Run one with `python -m benchmarks.NAME`:")
    # Packages (stand_ins/) hold what the benchmarks share; each module is one benchmark.
    for module in sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                         if not m.ispkg):
        if not module.startswith("_"):
            doc = __import__(f"benchmarks.{module}", fromlist=["__doc__"]).__doc__ or ""
            print(f"  {module:<12} {doc.strip().splitlines()[0] if doc.strip() else ''}")
