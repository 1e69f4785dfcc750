"""The program under Pulumi's mock engine, offline: run it for a stack and read what it registered.

One package for everything that evaluates the program without the CLI: the tests, `make render`
(scripts/render.py, also read by scripts/preflight.py) and the benchmarks import it the same way,
from the repository root (`from mockengine.run import run_program`).

- program:   where the program and its stack files are, a stack file's settings, a copy of the program
- stand_ins: what stands in for a stack's secrets (sentinels for the tests, placeholders for render)
- run:       run_program() and the records of every resource the program registered
- manifests: Kubernetes objects as the API server would receive them, from those records
- rendered:  the files each workload receives, from those records
"""
