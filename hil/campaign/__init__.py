"""Fault-injection campaigns: many independent single-fault runs judged against a golden run.

``sunlit-hil campaign`` (:mod:`hil.campaign.cli`, :mod:`~hil.campaign.campaign`) plans the runs
(:mod:`~hil.campaign.plan`), flies each in a fresh testbed with the same workload
(:mod:`~hil.campaign.run`, :mod:`~hil.campaign.workload`, observing with
:mod:`~hil.campaign.observe`), judges it (:mod:`~hil.campaign.classify`), journals it
(:mod:`~hil.campaign.journal`), spreads the runs over local processes or a Dask cluster
(:mod:`~hil.campaign.executor`) without leaving processes behind (:mod:`~hil.campaign.reap`),
and reports with intervals and sample sizes (:mod:`~hil.campaign.stats`,
:mod:`~hil.campaign.report`). See docs/campaigns.md.
"""
