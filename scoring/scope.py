"""The viewer's scope: which accounts a query may see.

Every query function in ``store`` takes a ``Scope`` so that access rules (a CSM sees their own
book, a manager their team) are enforced in one place, the query layer, and can be part of every
cache key (a ``Scope`` is frozen and hashable).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    """Accounts visible to one viewer.

    ``owners`` is ``None`` for everyone's accounts, else the set of ``csm_owner`` values visible.
    """

    owners: frozenset[str] | None = None
    label: str = "all accounts"

    @classmethod
    def everyone(cls) -> "Scope":
        return cls(None, "all accounts")

    @classmethod
    def for_owners(cls, owners: set[str] | frozenset[str], label: str | None = None) -> "Scope":
        owners = frozenset(owners)
        return cls(owners, label or "accounts of " + ", ".join(sorted(owners)))

    def account_filter(self, account_col: str = "account_id") -> tuple[str, list]:
        """SQL predicate limiting ``account_col`` to visible accounts, and its bound parameters.

        ``account_col`` is an identifier chosen by code, never by user input.
        """
        if self.owners is None:
            return "TRUE", []
        if not self.owners:
            return "FALSE", []
        return (
            f"{account_col} IN (SELECT account_id FROM accounts WHERE list_contains(?, csm_owner))",
            [sorted(self.owners)],
        )
