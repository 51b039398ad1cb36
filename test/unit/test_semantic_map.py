"""The semantic map's core without ROS: merging, negative evidence, queries, persistence and refusals."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from maestro_tools.common.errors import InvalidArgumentError, NotFoundError
from maestro_tools.mapping.entries import CameraView, Observation, Sighting, describe, same_kind
from maestro_tools.mapping.semantic_map import MapConfig, SemanticMap
from maestro_tools.mapping.store import MemoryStore, SqliteStore, open_store
from maestro_tools.mapping.visibility import Sight, expected_sight

K = np.array([[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]])


def camera_above(height: float = 1.0) -> np.ndarray:
    """Optical frame 1 m above the origin looking straight down (z down, x along world x)."""
    pose = np.eye(4)
    pose[:3, :3] = np.diag([1.0, -1.0, -1.0])
    pose[:3, 3] = [0.0, 0.0, height]
    return pose


def table_view(occluder: tuple[float, float, float] | None = None) -> CameraView:
    """Depth of a table at z = 0 seen from 1 m; optionally a thing 0.5 m below the camera over a point."""
    depth = np.full((480, 640), 1.0, dtype=np.float32)
    if occluder is not None:
        u = int(500 * occluder[0] / (1 - occluder[2]) + 320)
        v = int(-500 * occluder[1] / (1 - occluder[2]) + 240)
        depth[max(0, v - 40) : v + 40, max(0, u - 40) : u + 40] = 0.5
    return CameraView(depth, K, camera_above())


def sighting(label: str, position, size: float = 0.05, score: float = 1.0) -> Sighting:
    return Sighting(label, score, np.asarray(position, dtype=float), np.eye(3), np.full(3, size))


def observe(smap: SemanticMap, sightings, labels=(), stamp=1.0, view=None, camera="scene"):
    return smap.integrate(Observation(camera, stamp, tuple(labels), list(sightings), view))


def test_sightings_of_one_object_merge_and_neighbours_stay_apart() -> None:
    smap = SemanticMap(MemoryStore())
    rng = np.random.default_rng(0)
    for k in range(10):
        noise = rng.normal(0, 0.005, 3)
        observe(
            smap,
            [sighting("red cube", [0.5, 0.0, 0.025] + noise), sighting("blue cube", [0.5, 0.08, 0.025])],
            stamp=k,
        )
    assert len(smap) == 2
    (red,) = smap.query("red cube")
    assert red.observations == 10 and np.linalg.norm(red.position - [0.5, 0.0, 0.025]) < 0.005
    assert red.first_seen == 0 and red.last_seen == 9 and red.confidence > 0.95
    # two cubes of one kind 8 cm apart in one frame stay two objects
    observe(smap, [sighting("cube", [0.3, 0.3, 0.025]), sighting("cube", [0.3, 0.38, 0.025])])
    assert len(smap.query("cube")) == 4


def test_a_big_object_merges_over_its_size_and_the_specific_label_wins() -> None:
    smap = SemanticMap(MemoryStore())
    observe(smap, [sighting("bowl", [0.4, 0.2, 0.04], size=0.2)])
    observe(smap, [sighting("blue bowl", [0.46, 0.2, 0.04], size=0.2)], stamp=2.0)  # 6 cm off: under 10 cm
    (bowl,) = smap.query("bowl")
    assert bowl.label == "blue bowl" and bowl.observations == 2
    assert smap.version == 2 and bowl.version == 2


def test_a_part_named_after_its_object_stays_apart_from_it() -> None:
    """A door's handle lies on the door's box and its label contains "door": it is a part, not the door."""
    smap = SemanticMap(MemoryStore())
    door = Sighting("door", 1.0, np.array([-1.02, 0.0, 1.0]), np.eye(3), np.array([0.04, 0.89, 1.97]))
    handle = Sighting(
        "door handle", 0.9, np.array([-1.1, 0.31, 0.95]), np.eye(3), np.array([0.05, 0.14, 0.03])
    )
    for k in range(3):
        observe(smap, [door, handle], stamp=k)
    assert smap.labels() == ["door", "door handle"]
    (found,) = smap.query("door handle")
    assert found.observations == 3 and np.allclose(found.extent, handle.extent)
    assert same_kind("ball", "tennis ball") and not same_kind("door", "door handle")


def test_furniture_seen_a_part_at_a_time_grows_to_hold_every_part() -> None:
    """A 1.2 x 0.7 m table top at 0.62 m: from the floor a camera sees its front skirt (a thin box along
    its long side), from the side its end (a thin box along its short side, whose x the detector puts
    along that side), from above its top. The map's box holds them all; a small object keeps its mean."""
    smap = SemanticMap(MemoryStore())
    quarter = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # x along the world's y
    front = Sighting("white table", 1.0, np.array([2.6, 0.97, 0.31]), np.eye(3), np.array([1.2, 0.04, 0.62]))
    end = Sighting("white table", 1.0, np.array([3.18, 1.3, 0.31]), quarter, np.array([0.7, 0.04, 0.62]))
    top = Sighting("table", 1.0, np.array([2.5, 1.35, 0.61]), np.eye(3), np.array([0.9, 0.6, 0.02]))
    for k, seen in enumerate((front, end, top)):
        observe(smap, [seen], stamp=k)
    (table,) = smap.query("table")
    assert table.observations == 3 and table.label == "white table"
    low = table.position - np.abs(table.rotation) @ table.extent / 2
    high = table.position + np.abs(table.rotation) @ table.extent / 2
    assert np.allclose(low, [2.0, 0.95, 0.0], atol=1e-6) and np.allclose(high, [3.2, 1.65, 0.62], atol=1e-6)
    assert table.extent[0] >= table.extent[1]  # x along the longer side, as the detector has it
    # a small object's sightings average (noise does not grow its box)
    for k, dx in enumerate((0.0, 0.01)):
        observe(smap, [sighting("plush ball", [2.3 + dx, 1.2, 0.66], size=0.07)], stamp=10 + k)
    (ball,) = smap.query("plush ball")
    assert np.allclose(ball.position, [2.305, 1.2, 0.66]) and np.allclose(ball.extent, 0.07)
    # a sighting that does not overlap the table's box averages instead (a moved table re-converges)
    observe(smap, [Sighting("white table", 1.0, np.array([2.6, 1.8, 0.31]), np.eye(3), front.extent)])
    assert smap.query("table")[0].position[1] > 1.3


def test_furniture_is_fitted_to_its_sightings_surface_points_not_their_boxes() -> None:
    """A hand camera's view cut by the image's edges sees a trapezoid of the table top: its box comes out
    turned and sticks out past the table. With the mask's points the map's box stays on the table."""
    smap = SemanticMap(MemoryStore())
    rng = np.random.default_rng(1)
    skirt = rng.uniform([2.0, 0.95, 0.0], [3.2, 0.97, 0.62], size=(3000, 3))
    front = Sighting("white table", 1.0, np.array([2.6, 0.96, 0.31]), np.eye(3), np.array([1.2, 0.02, 0.62]))
    observe(smap, [Sighting(**{**front.__dict__, "points": skirt})])
    top = rng.uniform([2.0, 0.95, 0.61], [3.2, 1.65, 0.62], size=(6000, 3))
    top = top[top[:, 1] - 0.95 < 0.7 * (top[:, 0] - 2.0)]  # a wedge: the view's edge crosses the top
    yaw = np.radians(25.0)
    turned = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
    wedge = Sighting(
        "white table", 1.0, np.array([2.8, 1.2, 0.615]), turned, np.array([1.3, 0.6, 0.01]), points=top
    )
    observe(smap, [wedge], stamp=2.0)
    (table,) = smap.query("white table")
    low = table.position - np.abs(table.rotation) @ table.extent / 2
    high = table.position + np.abs(table.rotation) @ table.extent / 2
    assert np.all(low > [1.98, 0.93, -0.01]) and np.all(high < [3.22, 1.67, 0.63]), (low, high)
    assert high[1] > 1.6  # the far edge, which only the hand camera saw


def test_furniture_seen_whole_from_a_misplaced_pose_is_averaged_not_grown() -> None:
    """A garbage can seen whole twice, the second time 0.2 m off (an error in the robot's pose): the map
    keeps its size and averages its place, instead of a box that grows with every pose error."""
    smap = SemanticMap(MemoryStore())
    size = np.array([0.35, 0.35, 0.42])
    for k, x in enumerate((3.9, 4.1)):
        observe(smap, [Sighting("garbage can", 1.0, np.array([x, -1.8, 0.21]), np.eye(3), size)], stamp=k)
    (can,) = smap.query("garbage can")
    assert np.allclose(can.extent, size) and np.isclose(can.position[0], 4.0)


def test_views_keep_the_best_and_the_latest_camera() -> None:
    smap = SemanticMap(MemoryStore(), MapConfig(max_views=2))
    for k, (camera, score) in enumerate([("scene", 0.5), ("wrist", 0.9), ("scene", 0.7)]):
        s = sighting("ball", [0.5, 0.0, 0.03], score=score)
        s = Sighting(s.label, s.score, s.position, s.rotation, s.extent, box=(0, 0, 64, 64))
        observe(smap, [s], stamp=k, camera=camera)
    (ball,) = smap.query("ball")
    assert [v.score for v in ball.views] == [0.9, 0.7] and ball.camera == "scene"


def test_duplicates_fold_when_a_sighting_joins_them() -> None:
    smap = SemanticMap(MemoryStore(), MapConfig(merge_distance=0.02, merge_size_factor=0.0))
    observe(smap, [sighting("mug", [0.5, 0.0, 0.05])])
    observe(smap, [sighting("mug", [0.5, 0.025, 0.05])])  # 2.5 cm: a second object
    assert len(smap) == 2
    observe(smap, [sighting("mug", [0.5, 0.012, 0.05])])  # between: joins one, which now overlaps the other
    assert len(smap) == 1 and smap.query("mug")[0].observations == 3


def test_negative_evidence_drops_a_visible_missing_object_and_keeps_a_hidden_one() -> None:
    smap = SemanticMap(MemoryStore())
    observe(smap, [sighting("ball", [0.1, 0.1, 0.03]), sighting("block", [-0.1, -0.1, 0.025])])
    # the arm (a depth 0.5 m from the camera) covers the ball; the block lies in plain view; neither detected
    for k in range(3):
        report = observe(smap, [], labels=["ball", "block"], stamp=2 + k, view=table_view((0.1, 0.1, 0.03)))
        if k == 0:
            assert report.hidden == [smap.query("ball")[0].id] and report.decayed
    assert [e.label for e in smap.query()] == ["ball"]
    assert smap.query("ball")[0].observations == 1  # untouched


def test_negative_evidence_only_for_what_was_looked_for_and_in_view() -> None:
    smap = SemanticMap(MemoryStore())
    observe(smap, [sighting("ball", [0.1, 0.1, 0.03]), sighting("far block", [5.0, 5.0, 0.0])])
    for k in range(3):
        observe(smap, [], labels=["bowl"], stamp=2 + k, view=table_view())  # asked for something else
    assert len(smap) == 2
    for k in range(3):  # "everything" and the block out of view: only the ball goes
        observe(smap, [], labels=[], stamp=5 + k, view=table_view())
    assert [e.label for e in smap.query()] == ["far block"]


def test_a_moved_object_is_found_at_its_new_place_and_its_old_entry_goes() -> None:
    smap = SemanticMap(MemoryStore())
    observe(smap, [sighting("ball", [0.1, 0.1, 0.03])])
    for k in range(3):
        observe(smap, [sighting("ball", [-0.2, 0.1, 0.03])], labels=["ball"], stamp=2 + k, view=table_view())
    (ball,) = smap.query("ball")
    assert np.allclose(ball.position, [-0.2, 0.1, 0.03]) and ball.observations == 3


def test_expected_sight_classes() -> None:
    view = table_view((0.1, 0.1, 0.03))
    sights = expected_sight(
        view, np.array([[0.1, 0.1, 0.03], [-0.1, 0.0, 0.03], [3.0, 0.0, 0.0], [0, 0, 2.0]]), np.full(4, 0.05)
    )
    assert sights.tolist() == [Sight.HIDDEN, Sight.VISIBLE, Sight.OUT_OF_VIEW, Sight.OUT_OF_VIEW]


def test_queries_by_words_near_a_point_and_in_a_box() -> None:
    smap = SemanticMap(MemoryStore())
    observe(
        smap,
        [
            sighting("tennis ball", [0.5, 0.0, 0.03]),
            sighting("red ball", [0.3, 0.2, 0.03]),
            sighting("bowl", [0.3, -0.2, 0.04]),
        ],
    )
    assert sorted(e.label for e in smap.query("ball")) == ["red ball", "tennis ball"]
    assert [e.label for e in smap.query("Tennis Ball")] == ["tennis ball"]
    assert smap.query("green ball") == []
    near = smap.query(center=np.array([0.32, 0.18, 0.0]), radius=0.3)
    assert [e.label for e in near] == ["red ball", "tennis ball"]  # nearest first; the bowl is 0.38 m off
    inside = smap.query(box=(np.array([0.2, -0.3, 0.0]), np.array([0.4, 0.0, 0.1])))
    assert [e.label for e in inside] == ["bowl"]
    assert smap.labels() == ["bowl", "red ball", "tennis ball"]
    text = describe(smap.query(), now=31.0)
    assert "'tennis ball' at (0.500, 0.000, 0.030) m" in text and "30 s ago by the scene camera" in text


def test_forget_remove_and_clear() -> None:
    smap = SemanticMap(MemoryStore())
    observe(smap, [sighting("tennis ball", [0.5, 0.0, 0.03]), sighting("bowl", [0.3, -0.2, 0.04])])
    assert len(smap.forget("ball")) == 1 and smap.labels() == ["bowl"]
    with pytest.raises(NotFoundError, match="obj2"):
        smap.remove(["obj99"])
    smap.clear()
    assert len(smap) == 0 and describe([], 0.0).endswith("empty")


def test_a_restart_keeps_the_map(tmp_path: Path) -> None:
    smap = SemanticMap(SqliteStore(tmp_path, "kitchen"))
    s = Sighting(
        "tennis ball", 0.9, np.array([0.5, 0.1, 0.03]), np.eye(3), np.full(3, 0.065), (10, 20, 30, 40), b"png"
    )
    observe(smap, [s, sighting("bowl", [0.3, -0.2, 0.04], size=0.15)], stamp=3.0, camera="wrist")
    smap.forget("bowl")
    before = smap.query()
    smap.close()
    again = SemanticMap(open_store("sqlite", str(tmp_path), "kitchen"))
    (ball,) = again.query()
    assert ball.id == before[0].id and ball.label == "tennis ball" and ball.camera == "wrist"
    assert np.allclose(ball.position, before[0].position) and ball.views[0].box == (10, 20, 30, 40)
    assert ball.views[0].crop == b"png" and again.version == smap.version
    observe(again, [sighting("cup", [0.0, 0.3, 0.05])])
    assert again.query("cup")[0].id == "obj3"  # ids are never reused


@pytest.mark.parametrize(
    "content", [b"this is not a database at all" * 100, b"SQLite format 3\x00" + b"\x13" * 200]
)
def test_a_corrupt_file_is_refused_naming_it(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "bad.sqlite").write_bytes(content)
    with pytest.raises(InvalidArgumentError, match=r"bad\.sqlite refused"):
        SqliteStore(tmp_path, "bad")


def test_a_foreign_database_is_refused_naming_it(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "other.sqlite")
    db.execute("CREATE TABLE songs(title TEXT)")
    db.commit()
    db.close()
    with pytest.raises(
        InvalidArgumentError, match=r"other\.sqlite refused: it holds no Maestro map \(tables: songs\)"
    ):
        SqliteStore(tmp_path, "other")
    db = sqlite3.connect(tmp_path / "newer.sqlite")
    db.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT)")
    db.executemany(
        "INSERT INTO meta VALUES(?, ?)", [("format", "maestro-semantic-map"), ("format_version", "9")]
    )
    db.commit()
    db.close()
    with pytest.raises(InvalidArgumentError, match="format version 9 is newer"):
        SqliteStore(tmp_path, "newer")


def test_bad_names_and_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="letters, digits"):
        SqliteStore(tmp_path, "../etc")
    with pytest.raises(InvalidArgumentError, match="valid: sqlite, memory"):
        open_store("redis", str(tmp_path), "x")
    with pytest.raises(InvalidArgumentError, match="miss_decay must be in"):
        MapConfig(miss_decay=0.0)


def test_markers_fade_with_confidence() -> None:
    from maestro_tools.mapping.messages import markers

    smap = SemanticMap(MemoryStore())
    observe(smap, [sighting("ball", [0.1, 0.1, 0.03]), sighting("block", [-0.1, -0.1, 0.025])])
    observe(smap, [sighting("ball", [0.1, 0.1, 0.03])], labels=["ball", "block"], stamp=2, view=table_view())
    entries = {e.label: e for e in smap.query()}
    assert entries["block"].confidence < entries["ball"].confidence  # missed once in plain view
    labels = {m.text for m in markers(list(entries.values()), "world").markers if m.text}
    boxes = [m for m in markers(list(entries.values()), "world").markers if m.type == m.CUBE]
    assert len(boxes) == 2 and all(m.header.frame_id == "world" for m in boxes)
    alphas = sorted(m.color.a for m in boxes)
    assert alphas[0] < alphas[1] <= 0.7 + 1e-6 and alphas[0] >= 0.1
    assert any(text.startswith("block (") for text in labels)
