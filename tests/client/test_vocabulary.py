"""The client's Literal copies of the vocabulary say exactly what the service's enums say."""

from typing import get_args

import pytest

from bot.core import vocabulary
from signoff_client import models


@pytest.mark.parametrize(("copy", "source"), [
    (models.Status, vocabulary.Status),
    (models.Urgency, vocabulary.Urgency),
    (models.Decision, vocabulary.DecisionType),
])
def test_the_clients_literals_equal_the_services_enums(copy, source):
    assert get_args(copy) == tuple(member.value for member in source)

