"""CrossGuard policy packs of latticework, importable for offline evaluation.

Each pack is a directory Pulumi can load with ``--policy-pack policy_packs/<pack>``; its
policies live in importable modules so `latticework` runs the same objects offline.
"""
