"""Input commands for custom case fields (the definitions), shared by the admin pages, the API and
`casemgr field`. Values are not checked here: a value's rules are its field's, so they are checked
by casemgr/cases/custom_fields.py (`clean`), the one place every path goes through.

`CaseFieldUpdate` changes only the fields sent; null or blank clears help text, category (then the
field is for every category), the options and the limits. A field's code and type never change: the
values recorded under them stay readable.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, field_validator

from casemgr.cases.field_models import CODE_PATTERN, FieldType
from casemgr.cases.models import CaseStatus
from casemgr.fields import FileItem, Input, lower, single_line

LABEL_MAX = 100
HELP_MAX = 2_000
OPTIONS_MAX = 100


def _option(value: str) -> str:
    if "|" in value:
        raise ValueError("an option may not contain '|'")
    return value


def _category(value: Any) -> Any:
    """'all' (any letter case) or blank: the field is for every category."""
    if not isinstance(value, str):
        return value  # the schema names what is wrong with it
    value = lower(value)
    return None if value in {"", "all", "*"} else value


def _options(value: Any) -> Any:
    """One option a line (a form's text area) or a list."""
    if isinstance(value, str):
        return [line.strip() for line in value.splitlines() if line.strip()]
    return value


Code = Annotated[str, BeforeValidator(lower), Field(
    pattern=CODE_PATTERN, description="lowercase letters, digits and underscores, starting with a letter; stable")]
Label = Annotated[str, Field(min_length=1, max_length=LABEL_MAX), AfterValidator(single_line)]
HelpText = Annotated[str, Field(max_length=HELP_MAX)]
Category = Annotated[Annotated[str, Field(max_length=64)] | None, BeforeValidator(_category), Field(
    description="a taxonomy category code; null or 'all': every category")]
Option = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(single_line), AfterValidator(_option)]
Options = Annotated[list[Option], BeforeValidator(_options), Field(max_length=OPTIONS_MAX)]
MaxLength = Annotated[int, Field(ge=1, le=100_000)]
Pattern = Annotated[str, Field(min_length=1, max_length=500)]
Limit = Annotated[float, Field(allow_inf_nan=False, ge=-1e15, le=1e15)]
Position = Annotated[int, Field(ge=0, le=10_000)]


class Command(Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class NewCaseField(Command):
    """Define a custom field of cases (admins)."""

    code: Code
    label: Label
    type: FieldType
    help_text: HelpText = ""
    category: Category = None
    required: bool = False
    required_from: CaseStatus = Field(
        default=CaseStatus.NEW, description="with required: the first state a case cannot be in without a value "
                                            "(new: from creation; containment: before containment)")
    options: Options = Field(default_factory=list, description="choice and multi_choice: the options")
    max_length: MaxLength | None = Field(default=None, description="text, long_text, url: at most this many "
                                                                   "characters")
    pattern: Pattern | None = Field(default=None, description="text: a regular expression the whole value matches")
    min_value: Limit | None = Field(default=None, description="number: the smallest value")
    max_value: Limit | None = Field(default=None, description="number: the largest value")
    position: Position = Field(default=100, description="fields are shown by position, then label")


class CaseFieldUpdate(Command):
    """Change a custom field (admins): only the fields sent. Its code and type stay."""

    label: Label | None = None
    help_text: HelpText | None = None
    category: Category = None
    required: bool | None = None
    required_from: CaseStatus | None = None
    options: Options | None = None
    max_length: MaxLength | None = None
    pattern: Pattern | None = None
    min_value: Limit | None = None
    max_value: Limit | None = None
    position: Position | None = None
    retired: bool | None = Field(default=None, description="true: retire (no new values; recorded ones stay "
                                                           "readable); false: in use again")

    @field_validator("label", "required", "required_from", "position", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be emptied (null or blank)")
        return value

    def changed(self) -> set[str]:
        return set(self.model_fields_set)


class CaseFieldQuery(Input):
    model_config = ConfigDict(extra="ignore")
    category: Annotated[Annotated[str, Field(max_length=64)] | None, BeforeValidator(lower)] = Field(
        default=None, description="only the fields of this category")
    retired: bool = Field(default=True, description="false: leave retired fields out")
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=200)


class CaseFieldItem(FileItem):
    """A custom field in case-fields.yaml: a definition as `export_config` writes it."""

    code: Code
    label: Label
    # The vocabularies are the enums themselves (strict=False: the file's strings are parsed into them), so a
    # new field type or lifecycle state reaches case-fields.yaml with nothing else to change.
    type: FieldType = Field(strict=False)
    help_text: HelpText = ""
    category: Category = None
    required: bool = False
    required_from: CaseStatus = Field(default=CaseStatus.NEW, strict=False)
    options: list[Option] = Field(default_factory=list, max_length=OPTIONS_MAX)
    max_length: MaxLength | None = None
    pattern: Pattern | None = None
    min_value: Limit | None = None
    max_value: Limit | None = None
    position: Position = 100
    retired: bool = False
