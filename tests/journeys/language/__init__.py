import pytest

# The helpers assert on what the parser reports: give their failures pytest's detailed messages.
pytest.register_assert_rewrite("tests.journeys.language.helpers")
