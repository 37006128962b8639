"""The request bodies and path parameters of the API: they make its OpenAPI schema, and
FastAPI refuses a request that does not fit them (422) before any route runs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_ID = 2**53  # ids and numbers past this are not ones SQLite (or JSON clients) can hold
JobId = Annotated[int, Path(ge=1, le=MAX_ID, description="A job id.")]
Number = Annotated[int, Path(ge=1, le=MAX_ID, description="A deployment number.")]
Version = Annotated[int, Path(ge=1, le=MAX_ID, description="A version of an online deployment.")]


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            'Input name -> a literal (params), or {"upload": DIGEST}, {"artifact": "NAME:VERSION"} or '
            '{"job_output": "JOB/OUTPUT"} (data inputs).'
        ),
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Free labels kept with the job.")
    force_rerun: bool = Field(False, description="Run every step even if an identical job completed.")

    @model_validator(mode="after")
    def _valid_unicode(self):
        # JSON may spell a lone surrogate ("\ud800"), which no file, log or command can hold.
        _check_unicode(self.inputs, "inputs")
        _check_unicode(self.tags, "tags")
        return self


def _check_unicode(value, where: str) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{where} holds text that is not valid Unicode (a lone surrogate)") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_unicode(k, where)
            _check_unicode(v, f"{where}.{k}" if isinstance(k, str) and k.isprintable() and k.isascii() else where)
    elif isinstance(value, list):
        for v in value:
            _check_unicode(v, where)


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default_deployment: int = Field(
        ..., ge=1, le=MAX_ID, description="The deployment that invocations of the endpoint get."
    )


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: list[dict[str, Any]] = Field(
        ...,
        description="The rows to score: each an object of the model's feature columns, exactly (column -> value).",
    )

    @model_validator(mode="after")
    def _valid_unicode(self):
        # a column name or value no JSON answer (an error naming it) could carry
        _check_unicode(self.rows, "rows")
        return self
