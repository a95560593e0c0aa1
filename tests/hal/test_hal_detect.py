"""Board detection from recorded trees, and opening the right backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from flight.hal.detect import detect_backend, open_board_hal
from flight.hal.jetson import JetsonHal
from flight.hal.linux import LinuxHal
from flight.hal.rpi import RpiHal
from tests.hal.boards import prefer_test_python, standin_paths, tree, write

EXPECTED = {
    "pi4": "rpi", "pi5": "rpi", "jetson_orin": "jetson", "jetson_xavier_jp4": "jetson",
    "x86_laptop": "linux", "bare": "linux",
}


@pytest.fixture(autouse=True)
def _fast_standins(monkeypatch: pytest.MonkeyPatch) -> None:
    prefer_test_python(monkeypatch)


@pytest.mark.parametrize(("board", "backend"), EXPECTED.items())
def test_detect_each_tree(board: str, backend: str) -> None:
    assert detect_backend(tree(board)) == backend


def test_jetson_by_device_tree_alone(tmp_path: Path) -> None:
    write(tmp_path, "proc/device-tree/compatible", "nvidia,p3737-0000\0nvidia,tegra234\0")
    assert detect_backend(tmp_path) == "jetson"


def test_unreadable_model_is_plain_linux(tmp_path: Path) -> None:
    (tmp_path / "proc/device-tree/model").mkdir(parents=True)
    assert detect_backend(tmp_path) == "linux"


@pytest.mark.parametrize(("board", "cls"), [
    ("pi5", RpiHal), ("jetson_orin", JetsonHal), ("x86_laptop", LinuxHal), ("bare", LinuxHal),
])
def test_auto_opens_the_detected_backend(board: str, cls: type) -> None:
    hal = open_board_hal("auto", root=tree(board), programs=standin_paths())
    assert type(hal) is cls
    assert hal.describe()["backend"] == cls.backend


def test_options_reach_the_backend() -> None:
    hal = open_board_hal("jetson", root=tree("jetson_orin"), programs=standin_paths(),
                         dvfs_allowed=True, chip_zone="cpu-thermal", nvpmodel_low=1)
    assert isinstance(hal, JetsonHal)
    assert hal.dvfs_allowed and hal.chip_zone == "cpu-thermal" and hal.nvpmodel_low == 1
    assert hal.read()["chip_temp_c"].value == 47.468


def test_explicit_backend_wins_over_detection() -> None:
    assert type(open_board_hal("linux", root=tree("pi5"))) is LinuxHal


@pytest.mark.parametrize("backend", ["sim", "", "raspberry"])
def test_unknown_backend(backend: str) -> None:
    with pytest.raises(ValueError, match="not a board HAL backend"):
        open_board_hal(backend, root=tree("bare"))
