"""latticework: plan, check and deploy the architecture; the CLI lives in `latticework.cli`."""

__all__: list[str] = []
