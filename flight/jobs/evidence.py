"""Upset evidence on the bus: what the job runner tells the radiation monitor, and back.

``rad.evidence`` carries one finding per message (the monitor counts, classifies and escalates);
``rad.estimate`` carries the monitor's current upset-rate estimate (the runner sizes its
checkpoint interval from it). Evidence names are the rows of the response policy table.
"""

from __future__ import annotations

from flight.jobs.kind import Finding, Outcome

EVIDENCE_TOPIC = "rad.evidence"
ESTIMATE_TOPIC = "rad.estimate"

ABFT_SINGLE = "abft_single"
ABFT_MULTIPLE = "abft_multiple"
DIGEST_MISMATCH = "digest_mismatch"
CHECKPOINT_CORRUPT = "checkpoint_corrupt"


def evidence_of(finding: Finding) -> str:
    """The policy's evidence name for a kind's finding."""
    if finding.check == "digest":
        return DIGEST_MISMATCH
    if finding.check == "abft" and finding.count <= 1 and finding.outcome is not Outcome.ROLLBACK:
        return ABFT_SINGLE
    return ABFT_MULTIPLE
