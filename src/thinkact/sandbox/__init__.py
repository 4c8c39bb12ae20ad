"""Confinement for code the model runs (python kernel, shell): see ``thinkact.sandbox.jail``."""

from thinkact.sandbox.jail import (
    INSTALL_HINT,
    Jail,
    SandboxUnavailable,
    check_available,
    check_workspace,
    give_tree,
    jail_uid,
)

__all__ = ["INSTALL_HINT", "Jail", "SandboxUnavailable", "check_available", "check_workspace",
           "give_tree", "jail_uid"]
