"""A flatsat on a real board over plain ssh: deploy Sunlit there, run the stack, link a ground.

See :mod:`hil.board.stack` and docs/deploy.md. The modules ``probe``, ``unpack`` and
``install`` run on the board with its own Python before Sunlit is installed there (standard
library only); ``agent`` runs on the board inside the installed virtualenv.
"""

from hil.board.ssh import BoardError
from hil.board.stack import HAL_CHOICES, BoardInfo, BoardLink, BoardStack, DeployReport

__all__ = ["HAL_CHOICES", "BoardError", "BoardInfo", "BoardLink", "BoardStack", "DeployReport"]
