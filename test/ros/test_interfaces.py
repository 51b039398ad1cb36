"""maestro_msgs: the agent's action is exactly as specified, and the error codes match the Python mirror."""

from __future__ import annotations

import importlib

import pytest

from maestro_msgs.action import RunTask
from maestro_msgs.msg import ErrorCode as ErrorCodeMsg
from maestro_tools.common.errors import ErrorCode, NotFoundError, error_from_code


def test_run_task_is_exactly_as_specified() -> None:
    assert RunTask.Goal.get_fields_and_field_types() == {
        "instruction": "string",
        "max_substeps": "uint32",
        "trials": "uint32",
    }
    assert RunTask.Result.get_fields_and_field_types() == {
        "success": "boolean",
        "progress": "float",
        "summary": "string",
        "trial_id": "string",
        "substeps": "uint32",
        "replans": "uint32",
    }
    assert RunTask.Feedback.get_fields_and_field_types() == {
        "phase": "string",
        "substep": "uint32",
        "plan": "sequence<string>",
        "current_subtask": "uint32",
        "code": "string",
        "stdout_tail": "string",
        "replans": "uint32",
    }


def test_error_codes_mirror_the_message_constants() -> None:
    for code in ErrorCode:
        assert getattr(ErrorCodeMsg, code.name) == code.value
    constants = {name for name in dir(ErrorCodeMsg) if name.isupper() and name != "SLOT_TYPES"}
    assert constants == {code.name for code in ErrorCode}
    assert isinstance(error_from_code(ErrorCodeMsg.NOT_FOUND, "no cup"), NotFoundError)


RESPONSES = [
    "srv.Detect",
    "srv.Point",
    "srv.PlanGrasp",
    "srv.QueryMap",
    "srv.UpdateMap",
    "srv.ResetScene",
    "srv.GetTaskProgress",
    "srv.GetSegmentation",
]
RESULTS = [
    "action.MoveArm",
    "action.NavigateBase",
    "action.RunPolicy",
]


@pytest.mark.parametrize("name", RESPONSES + RESULTS)
def test_every_response_and_result_carries_success_code_and_message(name: str) -> None:
    kind, type_name = name.split(".")
    interface = getattr(importlib.import_module(f"maestro_msgs.{kind}"), type_name)
    reply = interface.Response if kind == "srv" else interface.Result
    fields = reply.get_fields_and_field_types()
    assert (
        fields["success"] == "boolean" and fields["error_code"] == "uint16" and fields["message"] == "string"
    )
