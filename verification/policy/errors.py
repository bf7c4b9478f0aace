"""The one error the engine raises on bad input."""


class PolicyError(ValueError):
    """A policy that cannot be evaluated safely: names the policy and the offending element."""

    def __init__(self, policy_id: str, element: str, message: str) -> None:
        self.policy_id = policy_id
        self.element = element
        self.message = message
        super().__init__(f"policy {policy_id!r}: {element}: {message}")
