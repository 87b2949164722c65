"""``/rubrics``: the rubric versions the server knows, and one version's content."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status

from judge.errors import RubricError
from judge.rubrics import Rubric, list_rubrics, load_rubric
from service.deps import AuthDep, PolicyDep, rubric_id
from service.openapi import AUTH, errors
from service.schemas import RubricDetail, RubricList, RubricSummary

router = APIRouter(prefix="/rubrics", tags=["rubrics"], dependencies=[AuthDep])



def _summary(r: Rubric, policy: Any) -> dict[str, Any]:
    return {
        "id": r.id, "name": r.name, "version": r.version, "kind": r.kind, "status": r.status, "sha256": r.sha256,
        "description": r.description.strip(), "default": r.id == policy.default_rubric_id,
        "allowed": policy.rubric_allowed(r.id),
    }


@router.get("", responses=errors(AUTH), summary="List rubric versions", operation_id="list_rubrics")
def rubrics(policy: PolicyDep) -> RubricList:
    """Every rubric version, with status, sha256 and whether this server lets requests use it."""
    return RubricList(rubrics=[RubricSummary(**_summary(load_rubric(rid), policy)) for rid in list_rubrics()])


@router.get("/{version:path}", responses=errors(AUTH, {404: "No such rubric."}), summary="One rubric version",
            operation_id="get_rubric")
def rubric(version: str, policy: PolicyDep) -> RubricDetail:
    """A rubric by id (`clinical/v3`) or version (`v3`): prompts, criteria and equivalence tables."""
    try:
        r = load_rubric(rubric_id(version))
    except (ValueError, RubricError) as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return RubricDetail(**_summary(r, policy), content=r.model_dump(exclude={"path"}))
