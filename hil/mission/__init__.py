"""The demo mission that ``sunlit-hil flatsat`` (``make flatsat``) flies.

``plan`` (settings, pass predictions, when things happen), ``recorder`` (the bus tap's
telemetry and events as time series), ``timeline`` (the live output), ``operations`` (the
ground's work in each pass), ``summary`` (the numbers and the table), ``report`` (plots and
pages). :func:`hil.flatsat.run_mission` puts them together; docs/mission.md explains the
mission and how to read its report.
"""
