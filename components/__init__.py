"""Pulumi ComponentResources for latticework, one AWS concept per module, and the typed spec."""
