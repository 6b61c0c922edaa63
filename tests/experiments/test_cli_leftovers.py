"""The command line leaves nothing behind: no temporary run folder after ``check``/``regime``
without ``--cache`` (however the command ends), no output folder from a ``reproduce`` whose
options are wrong or that failed before writing anything."""

from __future__ import annotations

import tempfile

import pytest

from partialfed.experiments import cli, executors, sweep


class _Failing(executors._Serial):
    """The serial executor, or one that fails as ``mode`` says when the sweep starts."""

    def __init__(self, mode: str):
        self.mode = mode

    def map_unordered(self, fn, tasks):
        if self.mode == "error":
            raise RuntimeError("the cluster went away")
        if self.mode == "interrupt":
            raise KeyboardInterrupt
        yield from super().map_unordered(fn, tasks)


@pytest.mark.parametrize(("mode", "rc"), [("ok", None), ("error", 1), ("interrupt", 130)])
def test_check_without_cache_removes_its_temporary_runs(tmp_path, monkeypatch, mode, rc):
    made = []
    real = tempfile.mkdtemp

    def mkdtemp(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    monkeypatch.setattr(sweep, "make_executor", lambda scheduler, workers: _Failing(mode))
    argv = ["check", "fedsgd_partial", "--seeds", "2", "--set", "T=20", "--json"]
    code = cli.main([*argv, "--scheduler", "local", "--workers", "1"])
    assert code == rc if rc is not None else code in (0, 1), code  # 1: a verdict, not an error
    assert len(made) == 1 and made[0].startswith(str(tmp_path / "partialfed-runs-"))
    assert list(tmp_path.iterdir()) == []


def test_reproduce_checks_its_options_before_making_its_folder(tmp_path, capsys):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    out = tmp_path / "report"
    assert cli.main(["reproduce", "--quick", "--out", str(out), "--cache", str(not_a_folder)]) == 2
    assert "'--cache'" in capsys.readouterr().err
    assert cli.main(["reproduce", "--quick", "--out", str(out), "--workers", "0"]) == 2
    assert not out.exists()


def test_reproduce_that_fails_before_writing_leaves_no_folder(tmp_path, monkeypatch, capsys):
    def unreachable(scheduler, workers):
        raise ValueError(f"The 'scheduler' parameter of run_sweep could not reach {scheduler!r}")

    monkeypatch.setattr(sweep, "make_executor", unreachable)
    out = tmp_path / "report"
    code = cli.main(["reproduce", "--quick", "--out", str(out), "--scheduler", "tcp://10.9.9.9:1"])
    assert code == 2 and "could not reach" in capsys.readouterr().err
    assert not out.exists()
    out.mkdir()  # a folder the user made is kept
    assert cli.main(["reproduce", "--quick", "--out", str(out), "--scheduler", "local"]) == 2
    assert out.is_dir()
