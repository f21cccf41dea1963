"""The vector generator's scenarios, one module per section of protocol/SPEC.md.

``drbg`` and ``common`` hold what every scenario shares; ``tests/vectors/generate.py`` lists the scenarios and
writes the files.
"""
