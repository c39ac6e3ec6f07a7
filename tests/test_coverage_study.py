import importlib.util
import pathlib

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "coverage_study.py"


@pytest.fixture(scope="module")
def coverage_study():
    spec = importlib.util.spec_from_file_location("coverage_study", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_true_figures_converge(coverage_study):
    coarse, fine = coverage_study.true_figures(100), coverage_study.true_figures(200)
    for figure, value in fine.items():
        assert coarse[figure] == pytest.approx(value, rel=1e-12, abs=0)


def test_coverage_small_study(coverage_study):
    # 100 replications: a 95% coverage has a Monte Carlo standard error of 2.2%, so 85%
    # is 4.6 standard errors below and a correct method fails about once in 10**5 runs.
    _, coverage = coverage_study.run(
        replications=100, rows=400, n_bootstrap=100, level=0.95, seed=1, weights="exponential"
    )
    for (method, figure), fraction in coverage.items():
        assert fraction >= 0.85, (method, figure)
