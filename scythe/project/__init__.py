"""Project tooling: what `scythe new`, `scythe specs`, `scythe update` and `scythe build` do.

    scaffold   render the copier template into a new project; merge newer template versions in
    codegen    JSON Schema files → the project's pydantic spec module (datamodel-code-generator)
    schema_lint  schema files read and checked first, errors pointing into the schema
    image      plan and run the build of the experiment's worker image (docker, podman, buildah)

The template itself is `template/` at the repository root (`scythe/template/` in the wheel).
Nothing at run time imports this package: a worker image does not need copier or the generator.
May import: `scythe.run.versions`, `scythe.specs` (the names a schema may not take), `scythe.errors`.
"""
