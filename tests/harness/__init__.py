"""What the tests share, so that no test module imports another.

A test module that lends its helpers becomes a library nobody can change without
reading every borrower, and pytest imports it twice (once as a test, once as the
library). So the builders live here, one job per module, the fixtures in a
conftest.py, and tests/unit/test_harness.py fails on any import of a `test_*` or
`conftest` module.
"""
