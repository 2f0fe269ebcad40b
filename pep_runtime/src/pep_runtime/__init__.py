"""Policy enforcement point, secrets and signed service calls for latticework services."""

__all__: list[str] = []
