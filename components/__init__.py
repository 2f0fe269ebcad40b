"""Pulumi ComponentResources for latticework, one AWS concept per module, and the typed spec.

- `components.spec`: `load_spec` and the frozen models of the catalog and stack settings;
- `components.environment`: `Environment`, which composes everything below from a spec;
- `components.network`, `components.cluster`, `components.service_network`,
  `components.policy_store`, `components.secrets`, `components.mesh_service`: the components;
- `components.iam_documents`: every IAM and Lattice auth policy document, as pure functions;
- `components.naming`: the physical names of docs/contracts.md;
- `components.authz_files`: the loader and validator of `authz/`;
- `components.secret_patterns`: the one detector of secret-looking values;
- `components.errors`: `SpecError`.

Nothing is re-exported here, so importing the spec does not import the AWS provider SDK.
"""
