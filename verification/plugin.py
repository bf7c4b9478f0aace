"""The pytest plugin: options, targets, parametrization, verdicts and the Allure output."""
