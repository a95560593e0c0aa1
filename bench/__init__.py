"""Sunlit benchmarks: plain scripts (not pytest tests) that measure the framework against a
raw pyzmq/msgpack baseline in the same run and print the ratio.

Run one with ``.venv/bin/python -m bench.bus_throughput`` (or ``command_rtt``, ``idle_stack``)
or all of them with ``.venv/bin/python -m bench.run_all``; see docs/benchmarks.md.
"""
