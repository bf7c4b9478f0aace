"""Every pytest run's ``pytest_configure``: check our options, and start a verification run only when one is asked for.

A run that names nothing to verify stops here, changed in nothing; a verification run builds its
``Run`` (``build``) and registers the plugin's other modules, one per concern (see the package's
docstring).
"""

from __future__ import annotations

import pytest

from verification.errors import InputError
from verification.plugin.collection import collect_suite, suite_requested
from verification.plugin.options import (
    NOTHING_TO_VERIFY,
    options_without_target,
    target_missing_message,
    verification_requested,
)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Check the options, settle what to verify, and register the verification hooks (only then)."""
    config.addinivalue_line("markers", "verifies(kind): the requirement kind a verification test checks")
    if not verification_requested(config):
        if given := options_without_target(config):
            raise pytest.UsageError(target_missing_message(given))
        if suite_requested(config):
            raise pytest.UsageError(NOTHING_TO_VERIFY)
        return
    try:
        _start(config)
    except InputError as error:
        # Bad input is the user's to fix, so one line says what and where, even with -v; the
        # harness-side traceback (for reporting a harness bug) only with pytest's --full-trace.
        if getattr(config.option, "fulltrace", False):
            import traceback

            traceback.print_exception(error)
        sarif = getattr(config.option, "sarif", None)
        # No SARIF is written for bad input: the line says so, so that CI does not upload an old one.
        raise pytest.UsageError(str(error) + (f" (no SARIF written to {sarif})" if sarif else "")) from None


def _start(config: pytest.Config) -> None:
    from verification.plugin import allure_output, collection, demo, evidence, fleet, judging, sarif_output, summary
    from verification.plugin.build import build_run
    from verification.plugin.keys import RUN_KEY

    run = build_run(config)
    if run is None:
        raise InputError(NOTHING_TO_VERIFY)
    fleet.configure(config, run)
    if config.option.demo:
        demo.start_demo_endpoint(config, run)
    config.stash[RUN_KEY] = run
    collect_suite(config)
    allure_output.default_results_dir(config)
    for name, module in (
        ("collection", collection),
        ("judging", judging),
        ("summary", summary),
        ("demo", demo),
    ):
        config.pluginmanager.register(module, f"verification-{name}")
    config.pluginmanager.register(allure_output.AllureWriter(run), "verification-allure")
    evidence.configure_evidence(config, run)
    sarif_output.configure(config, run)
    if getattr(config.option, "durations", None) is None:  # --durations reads setup and teardown reports
        config.pluginmanager.register(judging.QuietPhases(config), "verification-quiet-phases")
    if config.pluginmanager.hasplugin("xdist"):
        from verification.plugin.xdist import XdistHooks

        config.pluginmanager.register(XdistHooks(run), "verification-xdist")
        from verification.plugin.excess import ExcessXdist

        config.pluginmanager.register(ExcessXdist(run), "verification-excess-xdist")
        if getattr(config.option, "dist", None) == "load":
            # `-n N` alone means --dist load, which would scatter a role's tests (and its API calls)
            # over workers; keep each role on one worker, and each account too when it is paced.
            config.option.dist = "loadgroup"
