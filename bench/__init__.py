"""Smartby's benchmarks, run by `make bench` (`python -m bench`), never part of `make test`.

Each figure is printed as one line, `BENCH <name> <value> <unit> baseline=<value> ratio=<value>`,
with a baseline measured in the same run: `hotpath` (decrypt, decode, normalise, serialise per
core), `endtoend` (TTN JSON into the embedded store) and `cosmos_requests` (HTTP requests per
reading against the local Cosmos-API server).
"""
