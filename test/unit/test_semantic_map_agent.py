"""The semantic map in the agent without ROS: the plan and react prompts carry the map's description when
the scene offers one; the proxy tool is registered and documented for the Franka; a failed detection says
where the map last saw the object (fake clients, real messages)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from maestro_agent.proxy.docs import describe_tools
from maestro_agent.proxy.harness import Harness
from maestro_agent.proxy.perception import Perception
from maestro_agent.proxy.registry import registered_tools
from maestro_agent.proxy.semantic_map import SemanticMap
from maestro_agent.proxy.types import VALUE_TYPES, MappedObject
from maestro_agent.scripted_vlm import ScriptedVLM
from maestro_msgs.msg import MapObject
from maestro_msgs.srv import QueryMap, UpdateMap
from maestro_tools.common.conversions import seconds_to_time
from maestro_tools.common.errors import NotFoundError
from maestro_tools.robots import get_robot
from test.unit.test_loop import PROGRAM, Events, FakeSandbox, FakeScene, agent_for

MEMORY = "Semantic map (base frame, 1 objects):\n- obj1 'red cube' at (0.500, 0.000, 0.025) m"


class MappedScene(FakeScene):
    def __init__(self, description: str | Exception) -> None:
        super().__init__()
        self.description = description

    def map_description(self) -> str:
        if isinstance(self.description, Exception):
            raise self.description
        return self.description


class Recording:
    def __init__(self, inner: ScriptedVLM) -> None:
        self.inner, self.requests = inner, []

    def generate(self, request):  # type: ignore[no-untyped-def]
        self.requests.append(request)
        return self.inner.generate(request)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)


def texts(request) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(p for m in request.messages for p in m.parts if isinstance(p, str))


@pytest.fixture
def vlm(tmp_path: Path) -> Recording:
    (tmp_path / "fake_pick.yaml").write_text(PROGRAM)
    return Recording(ScriptedVLM(tmp_path))


def test_plan_and_react_messages_carry_the_map_when_there_is_one(vlm: Recording) -> None:
    result = agent_for(vlm, FakeSandbox(), MappedScene(MEMORY), Events()).run_task("pick the cube")
    assert result.success
    purposes = [r.purpose for r in vlm.requests]
    assert "plan" in purposes and "react" in purposes
    for request in vlm.requests:
        if request.purpose in ("plan", "react"):
            assert "What the semantic map remembers" in texts(request) and "'red cube' at" in texts(request)


@pytest.mark.parametrize("scene", [FakeScene(), MappedScene(""), MappedScene(RuntimeError("no mapper"))])
def test_without_a_map_the_prompts_have_no_map_section(vlm: Recording, scene: FakeScene) -> None:
    assert agent_for(vlm, FakeSandbox(), scene, Events()).run_task("pick the cube").success
    assert not any("semantic map" in texts(r) for r in vlm.requests)


def test_the_tool_is_registered_documented_and_its_result_crosses_the_sandbox() -> None:
    assert VALUE_TYPES["MappedObject"] is MappedObject
    assert "semantic_map" in get_robot("franka").capabilities
    docs = describe_tools("franka")
    for method in ("find(label: str)", "near(point", "describe()", "forget(label: str)"):
        assert f"semantic_map.{method}" in docs, method
    print_form = str(MappedObject("obj1", "bowl", np.zeros(3), np.ones(3), np.eye(3), 0.8, 3, 12.0, "wrist"))
    assert "last 12 s ago by the wrist camera" in print_form


class FakeRos:
    """Answers detect with NOT_FOUND and query_map from a fixed map; records update_map calls."""

    def __init__(self) -> None:
        self.removed: list[str] = []

    def service(self, srv_type, name: str) -> str:  # type: ignore[no-untyped-def]
        return name

    def call(self, client: str, request, timeout: float):  # type: ignore[no-untyped-def]
        if client == "detect":
            raise NotFoundError("not visible in the scene camera: tennis ball; visible: bowl")
        if client == "update_map":
            self.removed += list(request.remove_ids)
            return UpdateMap.Response(success=True)
        assert client == "query_map" and request.frame == "base"
        ball = MapObject(id="obj4", label="tennis ball", confidence=0.9, observations=3, camera="wrist")
        ball.pose.position.x, ball.pose.orientation.w = 0.5, 1.0
        ball.last_seen = seconds_to_time(60.0)
        if request.label and request.label not in ("ball", "tennis ball"):
            raise NotFoundError(f"no object with label {request.label!r}; known labels: tennis ball")
        return QueryMap.Response(
            success=True, objects=[ball], stamp=seconds_to_time(100.0), description="map"
        )


@pytest.mark.parametrize("enabled", [True, False])
def test_a_failed_detection_says_where_the_map_last_saw_it(enabled: bool) -> None:
    ros, harness = FakeRos(), Harness(get_robot("franka"), enabled=enabled, attempts=1)
    perception = Perception(ros, harness, None)  # type: ignore[arg-type]
    memory = next(t for t in registered_tools() if t.name == "semantic_map").build(
        ros, harness, {"perception": perception}
    )
    assert isinstance(memory, SemanticMap)
    with pytest.raises(NotFoundError) as error:
        perception.detect("tennis ball", "scene")
    message = str(error.value)
    if enabled:
        assert (
            "last saw 'tennis ball' at [0.500, 0.000, 0.000] (base frame) 40 s ago from the wrist" in message
        )
    else:  # the baseline without the harness: the detector's error only
        assert "semantic map" not in message
    (ball,) = memory.find("ball")
    assert (
        ball.age == pytest.approx(40.0) and ball.camera == "wrist" and np.allclose(ball.position, [0.5, 0, 0])
    )
    assert memory.forget("ball") == 1 and ros.removed == ["obj4"] and memory.forget("mug") == 0
    with pytest.raises(Exception, match="label must be a non-empty string"):
        memory.find("")
