"""The read side: what cards and commands show, each read in a read-only transaction."""

from __future__ import annotations

from workflow.model import Case, DomainError
from workflow.services.base import NOT_FOUND, UseCaseBase


class QueryUseCases(UseCaseBase):
    async def case(self, case_id: int) -> Case:
        async with self.repo.transaction() as tx:
            case = await tx.get_case(case_id)
        if case is None:
            raise DomainError(NOT_FOUND, code="not_found")
        return case
